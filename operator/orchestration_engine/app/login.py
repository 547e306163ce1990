"""How the operator authenticates: the pod's service account in a cluster, else a kubeconfig.

Explicit, so that which client libraries happen to be installed never changes how we log in.
"""

from __future__ import annotations

from typing import Any

import kopf

from orchestration_engine.kube.client import in_cluster


async def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    if in_cluster():
        return kopf.login_with_service_account(**kwargs)
    return kopf.login_with_kubeconfig(**kwargs)


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.on.login(registry=registry)(login)
