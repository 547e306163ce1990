"""``backup`` and ``restore``: the custom objects and the metrics store, saved into a directory
and put back.

A backup directory holds:

- ``objects.yaml`` — every OrchestrationEngine, OrchestratedService and OrchestrationWorkflow
  as it can be applied anywhere (``core/portable.py``: no server-set fields, no finalizers,
  no kopf annotations, no status); ``kubectl apply --server-side -f objects.yaml`` works too.
- ``status.yaml`` — their status, which the API server ignores on create. ``restore`` writes it
  through the status subresource: the operator keeps its progress there, and without it every
  restored workflow would start again from its first step.
- ``store.sqlite`` or ``store.pgdump`` — a consistent copy of the metrics store
  (``store/backup.py``).
- ``manifest.json`` — when, by which version, what (counts, the store's kind and schema
  revision). Written last: a directory without it is an unfinished backup, and restore refuses
  it.

``restore`` checks everything it can before it changes anything (the manifest, that the store
may be replaced, that the cluster answers and has the CRDs), then loads the store, then applies
the objects by server-side apply (field manager ``orchestration-engine-restore``, forcing
conflicts) — idempotent, so running it twice gives the same result. Stop the operator first:
a running one would write rows and status while they are being replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from rich.console import Console
from rich.markup import escape

from orchestration_engine import __version__
from orchestration_engine.api.engine import KIND as ENGINE_KIND
from orchestration_engine.api.engine import PLURAL as ENGINE_PLURAL
from orchestration_engine.api.service import KIND as SERVICE_KIND
from orchestration_engine.api.service import PLURAL as SERVICE_PLURAL
from orchestration_engine.api.workflow import KIND as WORKFLOW_KIND
from orchestration_engine.api.workflow import PLURAL as WORKFLOW_PLURAL
from orchestration_engine.core.portable import (
    owner_key,
    portable,
    rebind_owners,
    restored_status,
    saved_status,
)
from orchestration_engine.kube.client import ApiClient, ConfigError, make_api_client
from orchestration_engine.kube.errors import KubeError, NotFound, TransportError
from orchestration_engine.kube.transfer import Owners, apply, list_objects
from orchestration_engine.store import backup as store_backup
from orchestration_engine.store.url import redact

FORMAT = "orchestration-engine-backup/v1"
MANIFEST = "manifest.json"
OBJECTS_FILE = "objects.yaml"
STATUS_FILE = "status.yaml"
FIELD_MANAGER = "orchestration-engine-restore"

# In the order they are saved and applied: the engine's configuration first.
PLURALS = {ENGINE_KIND: ENGINE_PLURAL, SERVICE_KIND: SERVICE_PLURAL, WORKFLOW_KIND: WORKFLOW_PLURAL}
NAMESPACED = {SERVICE_KIND, WORKFLOW_KIND}

_OBJECTS_HEADER = (
    "# orchestration-engine backup: the custom objects, without status or server-set fields.\n"
    "# Restore with `orchestration-engine restore --from DIR` (which also restores status.yaml);\n"
    "# `kubectl apply --server-side -f objects.yaml` restores the objects alone.\n"
)
_STATUS_HEADER = (
    "# orchestration-engine backup: each object's status and the generation it refers to,\n"
    "# written through the status subresource by `orchestration-engine restore`.\n"
)


class BackupError(Exception):
    """Backup or restore cannot go on; the message says why, without secrets."""


# Everything that means "the cluster could not be asked", as opposed to a refusal by it.
# TransportError first of all: it is a KubeError too (no answer at all, from the operator's
# own transport), and a clause for KubeError would call it a refusal.
_UNREACHABLE = (TransportError, aiohttp.ClientError, OSError, asyncio.TimeoutError, ConfigError)

Key = tuple[str, str, str]  # kind, namespace ("" for the engine), name


def _key(document: Mapping[str, Any]) -> Key:
    meta = document.get("metadata") or {}
    return (str(document.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name")))


def _where(key: Key) -> str:
    kind, namespace, name = key
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def _plural_kind(kind: str, count: int) -> str:
    return f"{count} {kind}" + ("" if count == 1 else "s")


def _api_reason(error: KubeError) -> str:
    """The API server's own message, out of the error's text (``404 Not Found: {json}``)."""
    _, _, body = str(error).partition(": ")
    with contextlib.suppress(ValueError, AttributeError):
        message = json.loads(body).get("message")
        if message:
            return f"{message} ({error.status})"
    return str(error)


async def _cluster() -> ApiClient:
    try:
        return await make_api_client()
    except _UNREACHABLE as error:
        raise BackupError(f"cannot reach the cluster: {error}") from None


async def _check_cluster(api: ApiClient) -> list[dict[str, Any]]:
    """The engine objects — and the proof that the cluster answers and has our CRDs."""
    try:
        return await list_objects(api, ENGINE_PLURAL)
    except NotFound:
        raise BackupError(
            "the cluster has no OrchestrationEngine kind: install the CRDs first "
            "(kubectl apply -f crds/, or orchestration-engine crds | kubectl apply -f -)"
        ) from None
    except _UNREACHABLE as error:
        raise BackupError(f"cannot reach the cluster: {error}") from None
    except KubeError as error:
        raise BackupError(f"the cluster refused: {_api_reason(error)}") from None


# --- backup ---------------------------------------------------------------------------------


@dataclass
class Saved:
    objects: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    skipped_deleting: int = 0

    def counts(self) -> dict[str, int]:
        counted = Counter(str(o["kind"]) for o in self.objects)
        return {kind: counted.get(kind, 0) for kind in PLURALS}


async def _read_objects(namespaces: list[str]) -> Saved:
    api = await _cluster()
    saved = Saved()
    try:
        bodies = await _check_cluster(api)
        for kind in (SERVICE_KIND, WORKFLOW_KIND):
            for namespace in namespaces or [""]:
                listed = await list_objects(api, PLURALS[kind], namespace)
                bodies.extend(sorted(listed, key=_key))
    except _UNREACHABLE as error:
        raise BackupError(f"cannot reach the cluster: {error}") from None
    except KubeError as error:
        raise BackupError(f"the cluster refused: {_api_reason(error)}") from None
    finally:
        await api.close()
    for body in bodies:
        if (body.get("metadata") or {}).get("deletionTimestamp"):
            saved.skipped_deleting += 1  # asked to go away: restoring it would undo that
            continue
        saved.objects.append(portable(body))
        status = saved_status(body)
        if status is not None:
            saved.statuses.append(status)
    return saved


def _prepare(directory: Path) -> bool:
    """Make ``directory`` ready for a backup; True if it was created here."""
    if directory.exists():
        if not directory.is_dir():
            raise BackupError(f"{directory} exists and is not a directory")
        if any(directory.iterdir()):
            raise BackupError(f"{directory} is not empty: back up into a new directory")
        return False
    try:
        directory.mkdir(parents=True)
    except OSError as error:
        raise BackupError(f"cannot create {directory}: {error.strerror}") from None
    return True


def _dump_yaml(path: Path, header: str, documents: Iterable[Mapping[str, Any]]) -> None:
    text = yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False)
    path.write_text(header + ("---\n" + text if text.strip() else ""))


def _write_manifest(directory: Path, manifest: Mapping[str, Any]) -> None:
    partial = directory / f".{MANIFEST}.partial"
    partial.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(partial, directory / MANIFEST)


async def backup(
    directory: Path,
    database_url: str,
    *,
    namespaces: list[str],
    objects: bool,
    store: bool,
    now: datetime | None = None,
) -> list[str]:
    """Write a backup into ``directory`` (new or empty); what was saved, line by line."""
    if not objects and not store:
        raise BackupError("nothing to back up: --no-objects and --no-store together")
    created = _prepare(directory)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "createdAt": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "orchestrationEngineVersion": __version__,
        "objects": None,
        "store": None,
    }
    lines = []
    try:
        if objects:
            saved = await _read_objects(namespaces)
            _dump_yaml(directory / OBJECTS_FILE, _OBJECTS_HEADER, saved.objects)
            _dump_yaml(directory / STATUS_FILE, _STATUS_HEADER, saved.statuses)
            counts = saved.counts()
            manifest["objects"] = {
                "file": OBJECTS_FILE,
                "statusFile": STATUS_FILE,
                "namespaces": sorted(namespaces) or None,
                "counts": counts,
            }
            lines.append(
                "objects: "
                + ", ".join(_plural_kind(kind, n) for kind, n in counts.items())
                + f" → {OBJECTS_FILE}, {STATUS_FILE}"
                + (
                    f" ({saved.skipped_deleting} being deleted, left out)"
                    if saved.skipped_deleting
                    else ""
                )
            )
        if store:
            try:
                copy = await store_backup.dump(database_url, directory)
            except store_backup.StoreBackupError as error:
                raise BackupError(f"store: {error}") from None
            manifest["store"] = {**copy.to_json(), "source": redact(database_url)}
            lines.append(
                f"store: {copy.kind} at schema revision {copy.revision}, "
                f"{sum(copy.rows.values())} rows → {copy.file}"
            )
        _write_manifest(directory, manifest)
    except BaseException:
        _clean_up(directory, created)
        raise
    return lines


def _clean_up(directory: Path, created: bool) -> None:
    """Remove what a failed backup wrote, so no half-backup is mistaken for one."""
    for name in (
        OBJECTS_FILE,
        STATUS_FILE,
        store_backup.SQLITE_FILE,
        store_backup.POSTGRESQL_FILE,
        f".{MANIFEST}.partial",
    ):
        with contextlib.suppress(OSError):
            (directory / name).unlink(missing_ok=True)
    if created:
        with contextlib.suppress(OSError):
            directory.rmdir()


# --- restore --------------------------------------------------------------------------------


def read_manifest(directory: Path) -> dict[str, Any]:
    if not directory.is_dir():
        raise BackupError(f"no backup at {directory}: no such directory")
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(
            f"no backup at {directory}: {MANIFEST} is missing (an unfinished backup?)"
        ) from None
    except (OSError, ValueError) as error:
        raise BackupError(f"{path} cannot be read: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not an orchestration-engine backup manifest ({FORMAT})")
    return manifest


def _load_yaml(path: Path) -> list[dict[str, Any]]:
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except FileNotFoundError:
        raise BackupError(f"{path} is missing from the backup") from None
    except (OSError, yaml.YAMLError) as error:
        raise BackupError(f"{path} cannot be read: {error}") from None
    for document in documents:
        if not isinstance(document, dict) or not (document.get("metadata") or {}).get("name"):
            raise BackupError(f"{path}: every document must be an object with metadata.name")
    return documents


def _selected(documents: list[dict[str, Any]], namespaces: list[str]) -> list[dict[str, Any]]:
    """All of them; with namespaces, only the objects in those (the engine is cluster-wide
    configuration, not part of any namespace, so it is left as it is)."""
    if not namespaces:
        return documents
    return [d for d in documents if _key(d)[1] in namespaces]


@dataclass
class Restored:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def _apply_objects(
    api: ApiClient,
    documents: list[dict[str, Any]],
    statuses: Mapping[Key, Mapping[str, Any]],
    result: Restored,
) -> None:
    owners = Owners(api)
    applied: Counter[str] = Counter()
    with_status = 0
    for document in documents:
        key = _key(document)
        kind, namespace, _ = key
        plural = PLURALS.get(kind)
        if plural is None:
            result.problems.append(f"{_where(key)}: not a kind of orchestration-engine")
            continue
        body = deepcopy(document)  # to adjust
        metadata = body["metadata"]
        try:
            references = metadata.pop("ownerReferences", None) or []
            if references:
                uids = {
                    owner_key(r): await owners.uid(
                        str(r.get("apiVersion")), str(r.get("kind")), namespace, str(r["name"])
                    )
                    for r in references
                }
                kept, dropped = rebind_owners(references, uids)
                if kept:
                    metadata["ownerReferences"] = kept
                for api_version, owner_kind, owner_name in dropped:
                    result.lines.append(
                        f"{_where(key)}: owner {owner_kind} {owner_name} ({api_version}) does "
                        "not exist here; restored without that owner reference"
                    )
            live = await apply(api, plural, body, manager=FIELD_MANAGER)
            applied[kind] += 1
            saved = statuses.get(key)
            if saved is not None:
                generation = int((live.get("metadata") or {}).get("generation") or 1)
                status_body = {
                    "apiVersion": body["apiVersion"],
                    "kind": kind,
                    "metadata": {k: v for k, v in metadata.items() if k in ("name", "namespace")},
                    "status": restored_status(saved, generation),
                }
                await apply(api, plural, status_body, manager=FIELD_MANAGER, subresource="status")
                with_status += 1
        except _UNREACHABLE as error:
            result.problems.append(f"{_where(key)}: cannot reach the cluster: {error}")
        except KubeError as error:
            result.problems.append(f"{_where(key)}: {_api_reason(error)}")
    if applied:
        result.lines.append(
            "objects: applied "
            + ", ".join(_plural_kind(kind, applied[kind]) for kind in PLURALS if applied[kind])
            + f" ({with_status} with their status)"
        )


async def restore(
    directory: Path,
    database_url: str,
    *,
    namespaces: list[str],
    objects: bool,
    store: bool,
    force: bool,
) -> Restored:
    """Put a backup back; every check that can fail is made before anything changes."""
    manifest = read_manifest(directory)
    result = Restored()
    copy: store_backup.StoreCopy | None = None
    if store and manifest.get("store"):
        try:
            copy = store_backup.StoreCopy.from_json(manifest["store"])
            store_backup.check_loadable(copy, database_url)
            occupied = await store_backup.tables_with_rows(database_url)
        except store_backup.StoreBackupError as error:
            raise BackupError(f"store: {error}") from None
        if occupied and not force:
            raise BackupError(
                f"store: {redact(database_url)} already holds rows (in {', '.join(occupied)}); "
                "--force replaces them with the backup's, --no-store leaves the store alone"
            )
    elif store:
        result.lines.append("store: not in this backup, left as it is")

    documents: list[dict[str, Any]] = []
    statuses: dict[Key, dict[str, Any]] = {}
    api: ApiClient | None = None
    if objects and manifest.get("objects"):
        documents = _selected(_load_yaml(directory / OBJECTS_FILE), namespaces)
        statuses = {_key(s): s for s in _load_yaml(directory / STATUS_FILE)}
        api = await _cluster()
    elif objects:
        result.lines.append("objects: not in this backup")
    try:
        if api is not None:
            await _check_cluster(api)
        if copy is not None:
            try:
                await store_backup.load(database_url, directory, copy)
            except store_backup.StoreBackupError as error:
                raise BackupError(f"store: {error}") from None
            result.lines.append(
                f"store: loaded {sum(copy.rows.values())} rows into {redact(database_url)} "
                f"(schema revision {copy.revision}, migrated to this version's)"
            )
        if api is not None:
            await _apply_objects(api, documents, statuses, result)
            if not documents:
                result.lines.append("objects: none selected")
    finally:
        if api is not None:
            await api.close()
    return result


# --- the command line's side ----------------------------------------------------------------


def run_backup(
    directory: Path,
    database_url: str,
    namespaces: list[str],
    objects: bool,
    store: bool,
    out: Console,
    err: Console,
) -> int:
    try:
        lines = asyncio.run(
            backup(directory, database_url, namespaces=namespaces, objects=objects, store=store)
        )
    except BackupError as error:
        err.print(
            f"[red]backup failed:[/red] {escape(str(error))}", highlight=False, soft_wrap=True
        )
        return 1
    for line in lines:
        out.print(escape(line), highlight=False, soft_wrap=True)
    out.print(f"backup written to {escape(str(directory))}", highlight=False, soft_wrap=True)
    return 0


def run_restore(
    directory: Path,
    database_url: str,
    namespaces: list[str],
    objects: bool,
    store: bool,
    force: bool,
    out: Console,
    err: Console,
) -> int:
    try:
        result = asyncio.run(
            restore(
                directory,
                database_url,
                namespaces=namespaces,
                objects=objects,
                store=store,
                force=force,
            )
        )
    except BackupError as error:
        err.print(
            f"[red]restore failed:[/red] {escape(str(error))}", highlight=False, soft_wrap=True
        )
        return 1
    for line in result.lines:
        out.print(escape(line), highlight=False, soft_wrap=True)
    if result.problems:
        err.print(f"[red]{len(result.problems)} objects were not restored:[/red]")
        for problem in result.problems:
            err.print(f"  - {escape(problem)}", highlight=False, soft_wrap=True)
        return 1
    return 0
