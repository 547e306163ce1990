"""Delete one of our custom objects, and only the very object that was decided on.

A name can be reused: between the decision and the request the object may have been deleted
and created again by someone else. A uid precondition makes the API server refuse (409) to
delete anything but the object of that uid; a name alone never is enough.
"""

from __future__ import annotations

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from orchestration_engine.api.common import GROUP, VERSION
from orchestration_engine.kube.errors import Conflict, NotFound, translate

REQUEST_TIMEOUT_SECONDS = 30


async def delete_exact(
    api: client.ApiClient, plural: str, namespace: str, name: str, uid: str
) -> bool:
    """True if this call deleted it; False if it was gone or the name now has another uid.

    Background propagation: whatever names it as owner (a workflow's Jobs, their pods) is
    deleted by the garbage collector after it.
    """
    options = client.V1DeleteOptions(
        propagation_policy="Background", preconditions=client.V1Preconditions(uid=uid)
    )
    try:
        await client.CustomObjectsApi(api).delete_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
            body=options,
            _request_timeout=REQUEST_TIMEOUT_SECONDS,
        )
    except ApiException as raw:
        error = translate(raw)
        if isinstance(error, NotFound | Conflict):
            return False
        raise error from None
    return True
