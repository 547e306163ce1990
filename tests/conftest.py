"""Fixtures for tests that talk to a real Kubernetes API server.

By default one local control plane (etcd + kube-apiserver, see tests/envtest) is started per
session. With USE_EXISTING_CLUSTER=true the cluster named by KUBECONFIG is used instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

# tests/ has no __init__.py (test modules are rootdir-relative); putting it on sys.path makes
# `envtest` importable whatever pytest's import mode.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from envtest.controlplane import LocalControlPlane, find_binaries  # noqa: E402
from envtest.crds import apply_crds  # noqa: E402
from envtest.operator_process import OperatorProcess  # noqa: E402
from http_support import CountingServer, Endpoint, Primary  # noqa: E402
from namespace_support import cleaned_namespace  # noqa: E402


@dataclass(frozen=True)
class ControlPlane:
    kubeconfig: Path
    server: str
    # None when USE_EXISTING_CLUSTER points the tests at someone else's cluster.
    local: LocalControlPlane | None = None


def use_existing_cluster() -> bool:
    return os.environ.get("USE_EXISTING_CLUSTER", "").strip().lower() in {"1", "true", "yes"}


def _existing_kubeconfig() -> Path:
    value = os.environ.get("KUBECONFIG", "").strip()
    if not value:
        raise RuntimeError("USE_EXISTING_CLUSTER=true needs KUBECONFIG set to a kubeconfig file")
    if os.pathsep in value:
        raise RuntimeError(
            f"USE_EXISTING_CLUSTER=true needs KUBECONFIG to name one file, not a list: {value}"
        )
    path = Path(value).expanduser()
    if not path.is_file():
        raise RuntimeError(f"KUBECONFIG={value} is not a file")
    return path


def _server_of(kubeconfig: Path) -> str:
    config: Any = yaml.safe_load(kubeconfig.read_text()) or {}
    current = config.get("current-context")
    contexts = {c.get("name"): c.get("context", {}) for c in config.get("contexts") or []}
    clusters = {c.get("name"): c.get("cluster", {}) for c in config.get("clusters") or []}
    cluster_name = contexts.get(current, {}).get("cluster")
    return str(clusters.get(cluster_name, {}).get("server", ""))


def _needs_control_plane(item: pytest.Item) -> bool:
    return "control_plane" in getattr(item, "fixturenames", ())


def _module_uses_the_cluster(request: pytest.FixtureRequest) -> bool:
    items = [i for i in request.session.items if getattr(i, "module", None) is request.module]
    return any(_needs_control_plane(item) for item in items)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # tryfirst: the marker must be there before `-m "not cluster"` deselects.
    for item in items:
        if _needs_control_plane(item):
            item.add_marker(pytest.mark.cluster)


def pytest_collection_finish(session: pytest.Session) -> None:
    # Checked here rather than in the fixture: a first build of kube-apiserver takes minutes
    # and would trip the per-test timeout, and a missing KUBECONFIG is better reported once.
    if session.config.option.collectonly:
        return
    if not any(_needs_control_plane(item) for item in session.items):
        return
    try:
        if use_existing_cluster():
            _existing_kubeconfig()
        else:
            reporter = session.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line("control plane: locating (or building) kube-apiserver")
            find_binaries()
    except RuntimeError as exc:
        raise pytest.UsageError(str(exc)) from exc


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    if use_existing_cluster():
        kubeconfig = _existing_kubeconfig()
        yield ControlPlane(kubeconfig=kubeconfig, server=_server_of(kubeconfig))
        return
    with LocalControlPlane() as local:
        yield ControlPlane(kubeconfig=local.kubeconfig, server=local.server, local=local)


@pytest.fixture(scope="session")
def kube_api(control_plane: ControlPlane) -> Iterator[Any]:
    # Imported here: `kubernetes` takes over half a second to import, which sessions
    # without cluster tests should not pay.
    from kubernetes import config

    # persist_config=False: the client must never rewrite the kubeconfig it was given.
    api = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(control_plane.kubeconfig), persist_config=False
    )
    try:
        yield api
    finally:
        api.close()


def _namespace_name(test_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")
    slug = slug.removeprefix("test-")[:40].strip("-")
    suffix = secrets.token_hex(3)
    return f"t-{slug}-{suffix}" if slug else f"t-{suffix}"


@pytest.fixture
def namespace(kube_api: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    yield from cleaned_namespace(kube_api, _namespace_name(request.node.name))


@pytest.fixture(scope="module")
def module_namespace(kube_api: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """One namespace for a whole module (the failure-mode suite's bad objects and good ones
    live side by side)."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.module.__name__.lower()).strip("-")[:30]
    yield from cleaned_namespace(kube_api, f"fmea-{slug}-{secrets.token_hex(3)}")


@pytest.fixture(scope="session")
def crds(kube_api: Any) -> None:
    apply_crds(kube_api)


@pytest.fixture(scope="module")
def custom(kube_api: Any, crds: None) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(kube_api)


@pytest.fixture(scope="module", autouse=True)
def _engine_spec_kept(request: pytest.FixtureRequest) -> Iterator[None]:
    """The cluster's one OrchestrationEngine is shared by every module: each cluster module
    leaves its spec as it found it, so that none depends on what an earlier one left behind
    (the demo's capacity, a strategy, a flag)."""
    if not _module_uses_the_cluster(request):
        yield
        return
    from kubernetes.client import ApiException

    from orchestration_engine.api.common import GROUP, VERSION

    custom = request.getfixturevalue("custom")
    try:
        before = custom.get_cluster_custom_object(GROUP, VERSION, "orchestrationengines", "default")
    except ApiException as exc:
        if exc.status != 404:
            raise
        before = None
    yield
    # Absent before: an operator of the module made it, with an empty spec (the defaults).
    spec = (before or {}).get("spec") or {}
    # A JSON patch: a merge patch would keep fields the module added inside nested objects.
    restore = [{"op": "add", "path": "/spec", "value": spec}]
    try:
        custom.patch_cluster_custom_object(
            GROUP,
            VERSION,
            "orchestrationengines",
            "default",
            restore,
            _content_type="application/json-patch+json",
        )
    except ApiException as exc:
        if exc.status != 404:  # deleted by the module: nothing to restore
            raise


@pytest.fixture(scope="module", autouse=True)
def _nothing_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """A cluster module leaves no OrchestratedService or OrchestrationWorkflow behind on the
    session's control plane. There is no namespace controller, so what a module leaves runs on
    under every later operator: a workflow that never ends holds a slot and the engine's phase,
    failing services raise the halt, and a later module fails for what an earlier one did. The
    leftovers are deleted and the module that left them fails, naming them. (The e2e tier's
    cluster has a namespace controller, and a session-long fleet; someone else's cluster is
    not ours to clean.)"""
    if not _module_uses_the_cluster(request):
        yield
        return
    yield
    plane = request.getfixturevalue("control_plane")
    if not isinstance(getattr(plane, "local", None), LocalControlPlane):
        return
    from kubernetes.client import ApiException

    from orchestration_engine.api.common import GROUP, VERSION

    custom = request.getfixturevalue("custom")
    left: list[str] = []
    for plural in ("orchestrationworkflows", "orchestratedservices"):
        for obj in custom.list_cluster_custom_object(GROUP, VERSION, plural)["items"]:
            meta = obj["metadata"]
            left.append(f"{plural} {meta['namespace']}/{meta['name']}")
            with contextlib.suppress(ApiException):
                custom.delete_namespaced_custom_object(
                    GROUP, VERSION, meta["namespace"], plural, meta["name"]
                )
    if left:
        pytest.fail(
            f"{request.module.__name__} left objects on the shared control plane (now deleted; "
            f"use the namespace fixture): {', '.join(sorted(left))}",
            pytrace=False,
        )


@pytest.fixture
def operator(control_plane: ControlPlane, crds: None, tmp_path: Path) -> Iterator[OperatorProcess]:
    """The operator as a real process, watching every namespace."""
    process = OperatorProcess(control_plane.kubeconfig, tmp_path)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def module_operator(
    control_plane: ControlPlane, crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """One operator for a whole test module: cheaper when its tests share no state."""
    process = OperatorProcess(control_plane.kubeconfig, tmp_path_factory.mktemp("operator"))
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture
async def async_api(
    control_plane: ControlPlane, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Any]:
    """The operator's own asyncio client (kube/client.py), on the test cluster."""
    from orchestration_engine.kube.client import make_api_client

    monkeypatch.setenv("KUBECONFIG", str(control_plane.kubeconfig))
    api = await make_api_client()
    try:
        yield api
    finally:
        await api.close()


@pytest.fixture
def server() -> Iterator[CountingServer]:
    """A counting HTTP server on 127.0.0.1 (http_support.py); 200 to every path unless told."""
    counting = CountingServer()
    yield counting
    counting.close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    """A health endpoint whose status and delay the test sets."""
    health = Endpoint()
    yield health
    health.close()


@pytest.fixture
def primary() -> Iterator[Primary]:
    """A failover primary's health endpoint: stop() and start() keep its port."""
    health = Primary()
    yield health
    health.stop()
