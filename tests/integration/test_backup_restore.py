"""``backup`` and ``restore`` against the real API server, with the store on SQLite and on a real
PostgreSQL: what the operator made (objects, their status, the store's rows) survives losing
all of it; restoring twice changes nothing; bad input gets a message and a non-zero exit,
never a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from integration_support import GROUP, VERSION, OperatorProcess, apply_crds, condition, wait_for
from sqlalchemy import Boolean, Float, Integer, func, select

import builders
from envtest.controlplane import LocalControlPlane
from orchestration_engine.store import StoreWriter, create_engine
from orchestration_engine.store.tables import TABLES, UtcDateTime

pytestmark = pytest.mark.cluster

_STORE_DIR = str(Path(__file__).resolve().parent / "store")
if _STORE_DIR not in sys.path:
    sys.path.insert(0, _STORE_DIR)

from store_servers import PostgresServer, running_postgres  # noqa: E402

SERVICES = "orchestratedservices"
WORKFLOWS = "orchestrationworkflows"
ENGINES = "orchestrationengines"
PASSWORD = "pw-5e0b7a-do-not-print"


# --- the store under test -------------------------------------------------------------------


@dataclass(frozen=True)
class OwnControlPlane:
    kubeconfig: Path
    server: str
    local: LocalControlPlane


@pytest.fixture(scope="module")
def control_plane() -> Iterator[OwnControlPlane]:
    """A control plane of this module's own: the round trips delete and restore the cluster's
    one engine, with its spec, under every other test's operator."""
    with LocalControlPlane() as local:
        yield OwnControlPlane(local.kubeconfig, local.server, local)


@pytest.fixture(scope="module")
def kube_api(control_plane: OwnControlPlane) -> Iterator[Any]:
    from kubernetes import config

    api = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(control_plane.kubeconfig), persist_config=False
    )
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="module")
def crds(kube_api: Any) -> None:
    apply_crds(kube_api)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


class Store:
    """A store the operator writes to, and a way to lose it."""

    def __init__(self, url: str, server: PostgresServer | None, database: str) -> None:
        self.url = url
        self.server = server
        self.database = database

    @property
    def kind(self) -> str:
        return "sqlite" if self.server is None else "postgresql"

    def lose(self) -> None:
        if self.server is None:
            path = Path(self.url.removeprefix("sqlite:///"))
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        else:
            self.server.sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public", self.database)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        (tmp_path / "store").mkdir()
        yield Store(f"sqlite:///{tmp_path / 'store' / 'orchestration.db'}", None, "")
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    database = f"t_backup_{secrets.token_hex(4)}"
    server.sql(f'CREATE DATABASE "{database}"')
    yield Store(server.url(database), server, database)
    server.sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _sample(column: Any) -> Any:
    kind = column.type
    if isinstance(kind, UtcDateTime):
        return datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    if isinstance(kind, Boolean):
        return True
    if isinstance(kind, Float):
        return 12.5
    if isinstance(kind, Integer):
        return 3
    return '{"sample": true}'


async def _fill_empty_tables(url: str, spill: Path) -> None:
    """A row in every table the operator's short run left empty, so every table is compared."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            empty = [
                name
                for name, table in TABLES.items()
                if (await connection.execute(select(func.count()).select_from(table))).scalar() == 0
            ]
    finally:
        await engine.dispose()
    writer = StoreWriter(url, spill_path=spill)
    await writer.start()
    try:
        for name in empty:
            columns = [c for c in TABLES[name].columns if not c.primary_key and c.name != "row_id"]
            writer.submit(name, {c.name: _sample(c) for c in columns})
        await writer.flush(timeout=30)
    finally:
        await writer.stop()


async def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return {
                name: [
                    tuple(row)
                    for row in await connection.execute(select(table).order_by(table.c.id))
                ]
                for name, table in TABLES.items()
            }
    finally:
        await engine.dispose()


def rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    return asyncio.run(_rows(url))


# --- the cluster's side ---------------------------------------------------------------------


def cli(*args: str, kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestration_engine", *args],
        env={**os.environ, "KUBECONFIG": str(kubeconfig), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def no_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [no_nulls(v) for v in value]
    return value


def without_generations(status: dict[str, Any]) -> dict[str, Any]:
    """The status as restored: nulls are not applied, observedGeneration counts anew."""
    status = no_nulls(status)
    status.pop("observedGeneration", None)
    for entry in status.get("conditions") or []:
        entry.pop("observedGeneration", None)
    return status


def snapshot(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if not k.startswith("kopf.")
    }
    return {
        "spec": obj.get("spec"),
        "labels": meta.get("labels") or {},
        "annotations": annotations,
        "status": without_generations(obj.get("status") or {}),
    }


class Cluster:
    def __init__(self, kube_api: Any, namespace: str) -> None:
        from kubernetes import client

        self.custom = client.CustomObjectsApi(kube_api)
        self.apps = client.AppsV1Api(kube_api)
        self.namespace = namespace

    def create(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.create_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, self.namespace, plural, body
        )

    def get(self, plural: str, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, self.namespace, plural, name
        )

    def items(self, plural: str) -> dict[str, dict[str, Any]]:
        listing = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, plural)
        return {item["metadata"]["name"]: item for item in listing["items"]}

    def engine(self) -> dict[str, Any] | None:
        from kubernetes import client

        try:
            return self.custom.get_cluster_custom_object(  # type: ignore[no-any-return]
                GROUP, VERSION, ENGINES, "default"
            )
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise

    def deployment(self, name: str) -> str:
        """A Deployment scaled to zero (nothing runs pods here); its uid."""
        created = self.apps.create_namespaced_deployment(
            self.namespace,
            {
                "metadata": {"name": name, "labels": {"app": name}},
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": "app", "image": "registry.invalid/a"}]},
                    },
                },
            },
        )
        return str(created.metadata.uid)

    def lose_everything(self) -> None:
        for plural in (SERVICES, WORKFLOWS):
            for name in self.items(plural):
                self.custom.delete_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, plural, name
                )
        self.custom.delete_cluster_custom_object(GROUP, VERSION, ENGINES, "default")
        wait_for(
            lambda: not self.items(SERVICES) and not self.items(WORKFLOWS) and not self.engine(),
            what="the objects gone",
        )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def owned_by(kind: str, name: str, uid: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "apps/v1",
            "kind": kind,
            "name": name,
            "uid": uid,
            "blockOwnerDeletion": False,
        }
    ]


def make_objects(cluster: Cluster) -> None:
    web_uid = cluster.deployment("web")
    gone_uid = cluster.deployment("gone")
    cluster.create(
        SERVICES,
        builders.service(
            "payments",
            displayName="Payments API",
            serviceType="web",
            priority="CRITICAL",
            healthCheck={"tcp": {"host": "127.0.0.1", "port": closed_port()}},
            dependsOn=["web"],
            sla={"availabilityPercent": 99.9},
            meta={
                "labels": {"team": "pay", "tier": "api"},
                "annotations": {"runbook": "https://wiki/payments", "kopf.zalando.org/x": "{}"},
            },
        ),
    )
    for name, uid in (("web", web_uid), ("gone", gone_uid)):
        cluster.create(
            SERVICES,
            builders.service(
                name,
                workloadRef={"kind": "Deployment", "name": name},
                meta={"ownerReferences": owned_by("Deployment", name, uid)},
            ),
        )
    cluster.create(
        WORKFLOWS,
        builders.workflow(
            "warm-up",
            [
                {"name": "settle", "action": "delay", "params": {"seconds": 0}},
                {
                    "name": "done",
                    "action": "delay",
                    "params": {"seconds": 0},
                    "dependsOn": ["settle"],
                },
            ],
            priority="CRITICAL",
            workflowType="monitoring",
            meta={"labels": {"schedule": "nightly"}},
        ),
    )


def run_the_operator(control_plane: Any, cluster: Cluster, store: Store, workdir: Path) -> None:
    """The operator's real output: statuses, Events and the store's rows."""
    process = OperatorProcess(
        control_plane.kubeconfig,
        workdir,
        "--namespace",
        cluster.namespace,
        "--database-url",
        store.url,
        "--monitoring-interval-seconds",
        "1",
    )
    try:
        process.wait_ready()
        wait_for(
            lambda: (
                (cluster.get(WORKFLOWS, "warm-up").get("status") or {}).get("phase") == "Succeeded"
            ),
            timeout=60,
            what="the workflow Succeeded",
        )
        wait_for(
            lambda: (
                (cluster.get(SERVICES, "payments").get("status") or {}).get("health") == "FAILED"
            ),
            timeout=60,
            what="payments FAILED",
        )
    finally:
        assert process.stop() == 0, process.log()


def everything(cluster: Cluster) -> dict[str, Any]:
    engine = cluster.engine()
    assert engine is not None
    return {
        "services": {n: snapshot(o) for n, o in cluster.items(SERVICES).items()},
        "workflows": {n: snapshot(o) for n, o in cluster.items(WORKFLOWS).items()},
        "engine": snapshot(engine),
    }


def assert_generations_current(cluster: Cluster, backup: Path) -> None:
    """What described the spec at backup time says so of the restored object."""
    saved = {
        (d["kind"], d["metadata"]["name"]): d
        for d in yaml.safe_load_all((backup / "status.yaml").read_text())
        if d
    }
    engine = cluster.engine()
    assert engine is not None
    checked = 0
    for obj in [*cluster.items(SERVICES).values(), *cluster.items(WORKFLOWS).values(), engine]:
        old = saved[(obj["kind"], obj["metadata"]["name"])]
        old_generation, generation = old["metadata"]["generation"], obj["metadata"]["generation"]
        conditions = zip(
            old["status"].get("conditions") or [],
            obj["status"].get("conditions") or [],
            strict=True,
        )
        pairs = [(old["status"], obj["status"]), *conditions]
        for then, now in pairs:
            if then.get("observedGeneration") == old_generation:
                assert now["observedGeneration"] == generation, (obj["metadata"]["name"], now)
                checked += 1
    assert checked


def assert_clean_failure(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert re.search(words, " ".join((result.stdout + result.stderr).split())), result.stderr


# --- the round trip -------------------------------------------------------------------------


def test_round_trip(
    control_plane: Any, crds: None, kube_api: Any, namespace: str, store: Store, tmp_path: Path
) -> None:
    cluster = Cluster(kube_api, namespace)
    make_objects(cluster)
    run_the_operator(control_plane, cluster, store, tmp_path / "operator")
    asyncio.run(_fill_empty_tables(store.url, tmp_path / "spill"))
    before = everything(cluster)
    rows_before = rows(store.url)
    assert all(rows_before.values()), {n: len(r) for n, r in rows_before.items()}
    assert before["workflows"]["warm-up"]["status"]["phase"] == "Succeeded"
    assert condition(cluster.get(SERVICES, "payments"), "Ready")["status"] == "False"

    backup = tmp_path / "backup"
    result = cli(
        "backup", "--to", str(backup), "--database-url", store.url, "-n", namespace,
        kubeconfig=control_plane.kubeconfig,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["objects"]["counts"] == {
        "OrchestrationEngine": 1,
        "OrchestratedService": 3,
        "OrchestrationWorkflow": 1,
    }
    assert manifest["store"]["kind"] == store.kind
    assert manifest["store"]["rows"] == {name: len(r) for name, r in rows_before.items()}
    assert manifest["store"]["schemaRevision"]
    for document in yaml.safe_load_all((backup / "objects.yaml").read_text()):
        assert set(document) == {"apiVersion", "kind", "metadata", "spec"}
        assert set(document["metadata"]) <= {
            "name",
            "namespace",
            "labels",
            "annotations",
            "ownerReferences",
        }
        assert not any(k.startswith("kopf.") for k in document["metadata"].get("annotations", {}))

    # Lose it all: the objects, one workload, another re-created (a new uid), and the store.
    cluster.lose_everything()
    cluster.apps.delete_namespaced_deployment("gone", namespace)
    cluster.apps.delete_namespaced_deployment("web", namespace)
    wait_for(lambda: not cluster.apps.list_namespaced_deployment(namespace).items, what="gone")
    new_web_uid = cluster.deployment("web")
    store.lose()

    result = cli(
        "restore", "--from", str(backup), "--database-url", store.url,
        kubeconfig=control_plane.kubeconfig,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "owner Deployment gone (apps/v1) does not exist here" in " ".join(result.stdout.split())
    assert everything(cluster) == before
    assert rows(store.url) == rows_before
    assert_generations_current(cluster, backup)
    web, gone = cluster.get(SERVICES, "web"), cluster.get(SERVICES, "gone")
    assert [r["uid"] for r in web["metadata"]["ownerReferences"]] == [new_web_uid]
    assert "ownerReferences" not in gone["metadata"]
    managers = {m["manager"] for m in web["metadata"]["managedFields"]}
    assert "orchestration-engine-restore" in managers

    # Again: the store now holds rows, so it is kept unless asked; the objects are unchanged.
    again = cli(
        "restore", "--from", str(backup), "--database-url", store.url,
        kubeconfig=control_plane.kubeconfig,
    )  # fmt: skip
    assert_clean_failure(again, "already holds rows .*--force replaces them")
    forced = cli(
        "restore", "--from", str(backup), "--database-url", store.url, "--force",
        kubeconfig=control_plane.kubeconfig,
    )  # fmt: skip
    assert forced.returncode == 0, forced.stdout + forced.stderr
    objects_only = cli(
        "restore", "--from", str(backup), "--no-store", kubeconfig=control_plane.kubeconfig
    )
    assert objects_only.returncode == 0, objects_only.stdout + objects_only.stderr
    assert everything(cluster) == before
    assert rows(store.url) == rows_before
    assert_generations_current(cluster, backup)

    # The operator takes over where the backup left off: the workflow does not run again.
    process = OperatorProcess(
        control_plane.kubeconfig,
        tmp_path / "operator-after",
        "--namespace",
        namespace,
        "--database-url",
        store.url,
    )
    try:
        process.wait_ready()
        wait_for(
            lambda: (
                (cluster.get(SERVICES, "payments").get("status") or {}).get("lastCheckTime")
                != before["services"]["payments"]["status"].get("lastCheckTime")
            ),
            timeout=30,
            what="payments checked again",
        )
        workflow = cluster.get(WORKFLOWS, "warm-up")["status"]
        assert workflow["phase"] == "Succeeded"
        assert workflow["steps"] == before["workflows"]["warm-up"]["status"]["steps"]
    finally:
        process.stop()

    if store.server is not None:
        unreachable = f"postgresql://eoe:{PASSWORD}@127.0.0.1:{closed_port()}/eoe"
        failed = cli(
            "restore", "--from", str(backup), "--database-url", unreachable,
            kubeconfig=control_plane.kubeconfig,
        )  # fmt: skip
        assert_clean_failure(failed, "database unreachable: connection refused")
        assert PASSWORD not in failed.stdout + failed.stderr
    else:
        failed = cli(
            "restore", "--from", str(backup),
            "--database-url", f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}",
            kubeconfig=control_plane.kubeconfig,
        )  # fmt: skip
        assert_clean_failure(failed, "no-such-dir does not exist")


def test_backup_of_every_namespace_includes_this_one(
    control_plane: Any, crds: None, kube_api: Any, namespace: str, tmp_path: Path
) -> None:
    cluster = Cluster(kube_api, namespace)
    cluster.create(
        SERVICES,
        builders.service("solo", serviceType="other"),
    )
    backup = tmp_path / "all"
    result = cli("backup", "--to", str(backup), "--no-store", kubeconfig=control_plane.kubeconfig)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["store"] is None
    assert manifest["objects"]["namespaces"] is None
    assert f"namespace: {namespace}\n" in (backup / "objects.yaml").read_text()
    assert not (backup / "store.sqlite").exists()


# --- bad input ------------------------------------------------------------------------------


def test_bad_input_is_named_without_a_traceback(
    control_plane: Any, crds: None, tmp_path: Path
) -> None:
    kubeconfig = control_plane.kubeconfig
    assert_clean_failure(
        cli("restore", "--from", str(tmp_path / "missing"), kubeconfig=kubeconfig),
        "no backup at .*missing: no such directory",
    )
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "objects.yaml").write_text("")
    assert_clean_failure(
        cli("restore", "--from", str(tmp_path / "half"), kubeconfig=kubeconfig),
        "manifest.json is missing",
    )

    unreachable = f"postgresql://eoe:{PASSWORD}@127.0.0.1:{closed_port()}/eoe"
    failed = cli(
        "backup", "--to", str(tmp_path / "pg"), "--database-url", unreachable, "--no-objects",
        kubeconfig=kubeconfig,
    )  # fmt: skip
    assert_clean_failure(failed, "store: database unreachable: connection refused")
    assert PASSWORD not in failed.stdout + failed.stderr
    assert not (tmp_path / "pg").exists()  # a failed backup leaves nothing behind

    failed = cli(
        "backup", "--to", str(tmp_path / "nofile"),
        "--database-url", f"sqlite:///{tmp_path / 'absent.db'}", "--no-objects",
        kubeconfig=kubeconfig,
    )  # fmt: skip
    assert_clean_failure(failed, "no SQLite store at")

    assert_clean_failure(
        cli("backup", "--to", str(tmp_path / "half"), "--no-store", kubeconfig=kubeconfig),
        "is not empty",
    )

    nowhere = tmp_path / "nowhere.kubeconfig"
    nowhere.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        f"clusters: [{{name: x, cluster: {{server: 'https://127.0.0.1:{closed_port()}', "
        "insecure-skip-tls-verify: true}}]\n"
        "contexts: [{name: x, context: {cluster: x, user: x}}]\n"
        "users: [{name: x, user: {token: abc}}]\n"
    )
    assert_clean_failure(
        cli("backup", "--to", str(tmp_path / "k"), "--no-store", kubeconfig=nowhere),
        "cannot reach the cluster",
    )
