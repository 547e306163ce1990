"""The operator's CRDs installed on a test cluster, replaced when already there, and waited
for until the API server serves them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

CRDS_DIR = Path(__file__).resolve().parents[2] / "crds"


def apply_crds(kube_api: Any) -> None:
    from kubernetes import client

    extensions = client.ApiextensionsV1Api(kube_api)
    names = []
    for path in sorted(CRDS_DIR.glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        names.append(body["metadata"]["name"])
        try:
            existing = extensions.read_custom_resource_definition(body["metadata"]["name"])
            body["metadata"]["resourceVersion"] = existing.metadata.resource_version
            extensions.replace_custom_resource_definition(body["metadata"]["name"], body)
        except client.ApiException as error:
            if error.status != 404:
                raise
            extensions.create_custom_resource_definition(body)
    deadline = time.monotonic() + 30
    for name in names:
        while True:
            crd = extensions.read_custom_resource_definition(name)
            conditions = {c.type: c.status for c in (crd.status.conditions or [])}
            if conditions.get("Established") == "True":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not Established: {conditions}")
            time.sleep(0.1)
