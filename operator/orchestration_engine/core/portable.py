"""Objects made portable between clusters: what a backup keeps of them, and how their status
comes back.

A backup must re-create an object anywhere (the same cluster after a loss, or a new one), so
it keeps what a user wrote — ``spec``, labels, annotations, owner references — and none of the
fields the API server sets (uid, resourceVersion, generation, timestamps, managedFields),
which would be refused or meaningless elsewhere. Finalizers are dropped too: controllers add
their own again, and one left by a controller that no longer runs would make the restored
object impossible to delete. kopf's bookkeeping annotations go for the same reason.

``status`` is kept apart, because the API server ignores it on create: ``restore`` writes it
through the status subresource afterwards. The operator keeps its progress in status (a
workflow's finished steps, a service's failover), so without it every restored workflow would
run again from its first step. Its ``observedGeneration`` numbers count the old object's
generations; :func:`restored_status` moves them onto the new object's.

Pure functions: the I/O is in ``kube/transfer.py`` and ``cli/backup.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# kopf's own state: its default prefix, and the diff-base it keeps under ours (app/runtime.py).
KOPF_ANNOTATION_PREFIXES = ("kopf.zalando.org/",)
KOPF_ANNOTATIONS = frozenset({"orchestration.eoe.dev/last-handled-configuration"})

# What a user may have written in metadata; everything else there is the server's.
KEPT_METADATA = ("name", "namespace", "labels", "annotations", "ownerReferences")

Body = dict[str, Any]


def _annotation_kept(key: str) -> bool:
    return key not in KOPF_ANNOTATIONS and not key.startswith(KOPF_ANNOTATION_PREFIXES)


def portable(body: Mapping[str, Any]) -> Body:
    """The object as it can be applied to any cluster: no server-set fields, no status."""
    meta: Mapping[str, Any] = body.get("metadata") or {}
    metadata: Body = {}
    for key in KEPT_METADATA:
        value = meta.get(key)
        if key == "annotations" and value:
            value = {k: v for k, v in value.items() if _annotation_kept(k)}
        if value:
            metadata[key] = value
    result: Body = {"apiVersion": body["apiVersion"], "kind": body["kind"], "metadata": metadata}
    if "spec" in body:
        result["spec"] = body["spec"]
    return result


def saved_status(body: Mapping[str, Any]) -> Body | None:
    """The object's status with what restoring it needs: its identity and its generation
    (which the status's ``observedGeneration`` numbers refer to). None: it has no status."""
    status = body.get("status")
    if not status:
        return None
    meta: Mapping[str, Any] = body.get("metadata") or {}
    metadata: Body = {"name": meta["name"]}
    if meta.get("namespace"):
        metadata["namespace"] = meta["namespace"]
    if meta.get("generation") is not None:
        metadata["generation"] = meta["generation"]
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "metadata": metadata,
        "status": status,
    }


def _moved(observed: Any, saved_generation: int | None, new_generation: int) -> int | None:
    """An observedGeneration of the old object, counted in the new object's generations.

    Current then (it equalled the generation) is current now. One that lagged behind lags by
    as many generations now, but never below 0; without the old generation to compare with,
    it cannot be placed and is dropped ("not observed yet").
    """
    if not isinstance(observed, int) or isinstance(observed, bool) or saved_generation is None:
        return None
    return max(0, new_generation - (saved_generation - observed))


def _without_nulls(value: Any) -> Any:
    # An explicit null in an apply request would claim the field for nothing; absent is the same
    # to every reader of the status.
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def restored_status(saved: Mapping[str, Any], new_generation: int) -> Body:
    """The status to write on the restored object whose generation is ``new_generation``."""
    generation = (saved.get("metadata") or {}).get("generation")
    status: Body = _without_nulls(dict(saved.get("status") or {}))
    if "observedGeneration" in status:
        moved = _moved(status.pop("observedGeneration"), generation, new_generation)
        if moved is not None:
            status["observedGeneration"] = moved
    conditions = []
    for condition in status.get("conditions") or []:
        condition = dict(condition)
        if "observedGeneration" in condition:
            moved = _moved(condition.pop("observedGeneration"), generation, new_generation)
            if moved is not None:
                condition["observedGeneration"] = moved
        conditions.append(condition)
    if "conditions" in status:
        status["conditions"] = conditions
    return status


OwnerKey = tuple[str, str, str]  # apiVersion, kind, name


def owner_key(reference: Mapping[str, Any]) -> OwnerKey:
    return (str(reference.get("apiVersion")), str(reference.get("kind")), str(reference["name"]))


def rebind_owners(
    references: list[Mapping[str, Any]], uids: Mapping[OwnerKey, str | None]
) -> tuple[list[Body], list[OwnerKey]]:
    """Owner references pointed at the owners' uids in the target cluster.

    A uid is the identity of one object in one cluster: the saved one names an owner that no
    longer exists, and the garbage collector would delete the restored object at once. Each
    reference is moved to the object of the same kind and name found now, or dropped (and
    returned, to be reported) when there is none.
    """
    kept: list[Body] = []
    dropped: list[OwnerKey] = []
    for reference in references:
        key = owner_key(reference)
        uid = uids.get(key)
        if uid:
            kept.append({**reference, "uid": uid})
        else:
            dropped.append(key)
    return kept, dropped
