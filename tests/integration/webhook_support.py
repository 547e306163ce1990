"""The admission webhook's test vocabulary: certificates for a webhook on 127.0.0.1, and a
create that returns the API server's warnings."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from integration_support import GROUP, VERSION


def make_certificates(directory: Path) -> bytes:
    """A CA and a serving certificate for 127.0.0.1 signed by it; the CA's PEM."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "1",
        "-subj",
        "/CN=webhook-test-ca",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "tls.key",
        "-out",
        "tls.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "tls.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "tls.crt",
        "-days",
        "1",
        "-extfile",
        "san.ext",
    )
    return (directory / "ca.crt").read_bytes()


def create(
    custom: Any, namespace: str, plural: str, body: dict[str, Any], dry_run: bool = False
) -> list[str]:
    """Create; the API server's Warning headers (the webhook's warnings among them)."""
    options = {"dry_run": "All"} if dry_run else {}
    _data, _status, headers = custom.create_namespaced_custom_object_with_http_info(
        GROUP, VERSION, namespace, plural, body, **options
    )
    return [v for k, v in headers.items() if k.lower() == "warning"]
