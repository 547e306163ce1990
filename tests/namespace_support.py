"""Test namespaces on the session's control plane: created, and deleted with their contents
(the namespace fixtures of tests/conftest.py, and any test that names its own)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def cleaned_namespace(kube_api: Any, name: str) -> Iterator[str]:
    """A namespace for the generator's life (labelled as a test's), deleted with what it holds."""
    from kubernetes import client
    from urllib3.exceptions import HTTPError

    core = client.CoreV1Api(kube_api)
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name, labels={"eoe.dev/test-namespace": "true"})
        )
    )
    yield name
    # Without a controller-manager the namespace stays Terminating with its contents. Its
    # OrchestratedServices and OrchestrationWorkflows are deleted first, as the namespace
    # controller would: left behind, every later operator watching all namespaces would go on
    # checking them, count their failures toward the emergency halt, optimise them and report
    # their Events, and a later module's result would depend on which ran before it.
    custom = client.CustomObjectsApi(kube_api)
    for plural in ("orchestrationworkflows", "orchestratedservices"):
        with contextlib.suppress(client.ApiException, HTTPError):
            custom.delete_collection_namespaced_custom_object(
                "orchestration.eoe.dev", "v1alpha1", name, plural
            )
    with contextlib.suppress(client.ApiException, HTTPError):
        core.delete_namespace(name)
