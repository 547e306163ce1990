"""How the operator authenticates: the pod's service account in a cluster, else a kubeconfig.

Explicit, so that which client libraries happen to be installed never changes how we log in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import kopf

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


def in_cluster() -> bool:
    return "KUBERNETES_SERVICE_HOST" in os.environ and SERVICE_ACCOUNT_TOKEN.exists()


async def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    if in_cluster():
        return kopf.login_with_service_account(**kwargs)
    return kopf.login_with_kubeconfig(**kwargs)


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.on.login(registry=registry)(login)
