"""The validating admission webhook, called by the real API server over TLS on 127.0.0.1.

A test CA signs a serving certificate for 127.0.0.1; the operator serves the webhook with it
(``--webhook-port``, ``--webhook-cert-dir``); a ValidatingWebhookConfiguration sends reviews
of our three kinds in the test's namespace (and of the cluster-scoped engine) to it. The
configuration is deleted at the end whatever happens: with ``failurePolicy: Fail`` a
configuration left behind would break every later test.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration_support import GROUP, VERSION, OperatorProcess, wait_for
from webhook_support import create, make_certificates

import builders
from builders import service
from envtest.operator_process import free_port

pytestmark = pytest.mark.cluster

SERVICES, WORKFLOWS, ENGINES = (
    "orchestratedservices",
    "orchestrationworkflows",
    "orchestrationengines",
)


def webhook(name: str, port: int, ca: bytes, plural: str, namespace: str | None) -> dict[str, Any]:
    hook: dict[str, Any] = {
        "name": f"{name}.orchestration.eoe.dev",
        "clientConfig": {
            "url": f"https://127.0.0.1:{port}/validate",
            "caBundle": base64.b64encode(ca).decode(),
        },
        "rules": [
            {
                "apiGroups": [GROUP],
                "apiVersions": [VERSION],
                "operations": ["CREATE", "UPDATE"],
                "resources": [plural],
            }
        ],
        "failurePolicy": "Fail",
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "timeoutSeconds": 5,
    }
    if namespace is not None:
        hook["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    return hook


@pytest.fixture
def reviewed(
    control_plane: Any, crds: None, kube_api: Any, namespace: str, tmp_path: Path
) -> Iterator[None]:
    from kubernetes import client

    certs = tmp_path / "certs"
    certs.mkdir()
    ca = make_certificates(certs)
    port = free_port()
    process = OperatorProcess(
        control_plane.kubeconfig,
        tmp_path / "operator",
        "--namespace",
        namespace,
        "--webhook-port",
        str(port),
        "--webhook-cert-dir",
        str(certs),
    )
    registrations = client.AdmissionregistrationV1Api(kube_api)
    name = f"eoe-{namespace}"[:63]
    try:
        process.wait_ready()
        registrations.create_validating_webhook_configuration(
            {
                "metadata": {"name": name},
                "webhooks": [
                    webhook("services", port, ca, SERVICES, namespace),
                    webhook("workflows", port, ca, WORKFLOWS, namespace),
                    webhook("engines", port, ca, ENGINES, None),
                ],
            }
        )
        yield
    finally:
        registrations.delete_validating_webhook_configuration(name)
        process.stop()


def message(error: Any) -> str:
    return str(json.loads(error.body)["message"])


def test_the_api_server_asks_the_webhook(reviewed: None, custom: Any, namespace: str) -> None:
    from kubernetes.client.exceptions import ApiException

    # The API server takes a moment to load a new configuration, and a create before that is
    # not reviewed at all. Dry runs (reviewed too, since the hooks declare no side effects)
    # wait for it without leaving an object behind that a retry would collide with.
    wait_for(
        lambda: create(
            custom, namespace, SERVICES, service("probe", dependsOn=["api"]), dry_run=True
        ),
        what="a dry-run review with a warning",
    )
    warnings = create(custom, namespace, SERVICES, service("web", dependsOn=["api"]))
    assert any("dependsOn names services that do not exist yet: api" in w for w in warnings)
    create(custom, namespace, SERVICES, service("api", dependsOn=["db"]))
    with pytest.raises(ApiException) as cycle:
        create(custom, namespace, SERVICES, service("db", dependsOn=["web"]))
    assert cycle.value.status == 422
    assert "dependsOn would close a cycle: db -> web -> api -> db" in message(cycle.value)

    steps = [
        {"name": "a", "action": "delay", "params": {"seconds": 1}, "dependsOn": ["b"]},
        {"name": "b", "action": "delay", "params": {"seconds": 1}, "dependsOn": ["a"]},
    ]
    body = builders.workflow("loop", steps)
    with pytest.raises(ApiException) as loop:
        create(custom, namespace, WORKFLOWS, body)
    assert loop.value.status == 422
    assert "cycle" in message(loop.value)

    with pytest.raises(ApiException) as second:
        custom.create_cluster_custom_object(
            GROUP,
            VERSION,
            ENGINES,
            builders.engine({}, name="second"),
        )
    # The CRD's own rule catches it before the webhook does; either way, it is refused.
    assert "singleton" in message(second.value)
    # Updates of the engine go through the webhook too, and are allowed.
    for value in ("seen", None):
        custom.patch_cluster_custom_object(
            GROUP, VERSION, ENGINES, "default", {"metadata": {"labels": {"webhook-test": value}}}
        )
