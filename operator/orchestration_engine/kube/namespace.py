"""The namespace a command acts in when it is not told one: the kubeconfig context's, or the
pod's own when running in a cluster, else ``default`` — what kubectl does, so that
``orchestration-engine apply`` and ``kubectl apply`` put the same file in the same place."""

from __future__ import annotations

import contextlib
from pathlib import Path

from kubernetes_asyncio import config

from orchestration_engine.kube.client import in_cluster, kubeconfig_path

POD_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
FALLBACK = "default"


def default_namespace() -> str:
    if in_cluster():
        with contextlib.suppress(OSError):
            return POD_NAMESPACE_FILE.read_text().strip() or FALLBACK
        return FALLBACK
    with contextlib.suppress(Exception):  # no kubeconfig, or one without a current context
        _, current = config.list_kube_config_contexts(config_file=kubeconfig_path())
        namespace = ((current or {}).get("context") or {}).get("namespace")
        if namespace:
            return str(namespace)
    return FALLBACK
