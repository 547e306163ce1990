"""Shared pieces of the disruption tests: the operator killed, the API server restarted, the
database stopped, the soak.

What is reused rather than rewritten: the operator as a child process
(envtest/operator_process.py), the counting HTTP server, workflow bodies and the Job
controller's part (integration/workflow_support.py), the PostgreSQL server
(integration/store/store_servers.py), the control plane (envtest/controlplane.py) and the
metric parsing of the benchmarks (bench/support.py). What is added: the size knob, a
restartable kube-apiserver, a Job controller that runs in the background, and a reader of
figures that survives the API server being down.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

_TESTS = Path(__file__).resolve().parents[1]
for _path in (_TESTS, _TESTS / "integration", _TESTS / "integration" / "store", _TESTS / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from integration_support import (  # noqa: E402
    GROUP,
    ROOT,
    VERSION,
    OperatorProcess,
    apply_crds,
    condition,
    engine,
    wait_for,
)
from store_servers import PostgresServer, find_postgres_bindir, running_postgres  # noqa: E402
from support import metric_sum, samples  # noqa: E402
from workflow_support import (  # noqa: E402
    JOB_TEMPLATE,
    TERMINAL,
    delay,
    finish_job,
    moment,
    steps,
    workflow,
)

from envtest.controlplane import LocalControlPlane  # noqa: E402
from http_support import CountingServer  # noqa: E402

__all__ = [
    "GROUP",
    "JOB_TEMPLATE",
    "ROOT",
    "TERMINAL",
    "VERSION",
    "CountingServer",
    "JobPlayer",
    "OperatorLife",
    "OperatorProcess",
    "PostgresServer",
    "RestartableControlPlane",
    "SlowAnswers",
    "apply_crds",
    "by_label",
    "condition",
    "delay",
    "effects",
    "engine",
    "find_postgres_bindir",
    "full_mode",
    "healthz",
    "http_step",
    "kill_hard",
    "kube_client",
    "metric_sum",
    "moment",
    "pick",
    "quiet",
    "running_postgres",
    "samples",
    "seeded",
    "steps",
    "wait_for",
    "workflow",
    "write_json",
]

T = TypeVar("T")

# -- the size knob -----------------------------------------------------------------------------


def full_mode() -> bool:
    """FMEA_FULL=1: the sizes of the issue (`make fmea`); unset: a shortened variant that fits
    in `make test`."""
    return os.environ.get("FMEA_FULL", "").strip().lower() in {"1", "true", "yes"}


def pick(short: T, full: T) -> T:
    return full if full_mode() else short


def seeded(name: str) -> tuple[int, random.Random]:
    """A seeded generator, the seed printed (FMEA_SEED replays a run)."""
    given = os.environ.get("FMEA_SEED", "").strip()
    seed = int(given) if given else random.SystemRandom().randrange(2**32)
    print(f"\n{name}: seed {seed} (FMEA_SEED={seed} replays it)", flush=True)
    return seed, random.Random(seed)  # noqa: S311 (reproducible, not secret)


# -- small readers -----------------------------------------------------------------------------


def quiet(read: Callable[[], T], default: T) -> T:
    """``read()``, or ``default`` while the API server (or anything else) does not answer."""
    try:
        return read()
    except Exception:
        return default


def healthz(port: int, timeout: float = 5) -> tuple[int, str]:
    """The operator's liveness endpoint: (status, body); (0, why) when it does not answer."""
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except OSError as error:
        return 0, str(error)


def http_step(name: str, url: str, **step: Any) -> dict[str, Any]:
    return {"name": name, "action": "http", "params": {"url": url, "method": "POST"}, **step}


class SlowAnswers(dict[str, int]):
    """``CountingServer.answers`` that answers late: the server counts a request when it
    arrives and looks up its answer afterwards, so with these the effect is done and the
    answer still on its way for ``seconds``: the window in which a kill leaves an ``http``
    step's request sent but its result unrecorded."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        time.sleep(self.seconds)
        return super().get(key, default)


def effects(server: CountingServer) -> dict[str, set[str | None]]:
    """The side effects a server honouring ``Idempotency-Key`` performed: one per distinct key
    and path (a request re-sent with the same key is the same effect)."""
    found: dict[str, set[str | None]] = {}
    for path, key in zip(list(server.order), list(server.keys), strict=False):
        found.setdefault(path, set()).add(key)
    return found


# -- the operator, killed and started again ----------------------------------------------------


def kill_hard(process: OperatorProcess) -> None:
    """SIGKILL to the operator's whole process group (its probe worker too), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.process.wait(timeout=10)
    process.stop()  # closes its log


class OperatorLife:
    """The operator as one process at a time; ``crash`` SIGKILLs it, ``start`` another."""

    def __init__(self, kubeconfig: Path, workdir: Path, *extra: str) -> None:
        self.kubeconfig, self.workdir, self.extra = kubeconfig, workdir, extra
        self.generation = 0
        self.current: OperatorProcess | None = None
        self.start()

    def start(self) -> OperatorProcess:
        self.generation += 1
        # Each life has its own directory (and SQLite file): the store is not under test here.
        process = OperatorProcess(
            self.kubeconfig, self.workdir / f"life-{self.generation:02d}", *self.extra
        )
        try:
            process.wait_ready(timeout=60)
        except Exception:
            process.stop()
            raise
        self.current = process
        return process

    def crash(self) -> None:
        assert self.current is not None
        kill_hard(self.current)
        self.current = None

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.parent.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.workdir.glob("life-*/operator.log"))
        )


# -- the Job controller's part -----------------------------------------------------------------


class JobPlayer:
    """Plays the Job controller and kubelet in the background: every Job of the namespace
    completes a random moment after it first appears. Remembers each Job's uid, so a Job
    deleted and made again under the same name (its side effect twice) is seen."""

    def __init__(
        self, kube_api: Any, namespace: str, rng: random.Random, seconds: tuple[float, float]
    ) -> None:
        self.kube_api, self.namespace = kube_api, namespace
        self.rng, self.seconds = rng, seconds
        self.uids: dict[str, set[str]] = {}
        self.finished: set[str] = set()
        self.errors: list[str] = []
        self._due: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-player", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from kubernetes import client

        batch = client.BatchV1Api(self.kube_api)
        while not self._stop.wait(0.25):
            try:
                jobs = batch.list_namespaced_job(self.namespace).items
            except Exception as error:
                self.errors.append(str(error))
                continue
            now = time.monotonic()
            for job in jobs:
                name = job.metadata.name
                self.uids.setdefault(name, set()).add(job.metadata.uid)
                if name in self.finished:
                    continue
                due = self._due.setdefault(name, now + self.rng.uniform(*self.seconds))
                if now >= due:
                    try:
                        finish_job(self.kube_api, self.namespace, name)
                        self.finished.add(name)
                    except Exception as error:
                        self.errors.append(f"{name}: {error}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


# -- a kube-apiserver that can be killed and started again -------------------------------------


class RestartableControlPlane(LocalControlPlane):
    """A control plane of the test's own whose kube-apiserver can be killed and started again
    on the same port, with the same flags, certificates, token and etcd: every kubeconfig
    made before keeps working. etcd keeps running throughout."""

    restarts = 0

    def kill_apiserver(self) -> None:
        proc = self._apiserver
        assert proc is not None, "the control plane is not running"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def start_apiserver(self, timeout: float = 60) -> float:
        """Start the kube-apiserver again; the seconds it took to answer /readyz."""
        assert self._apiserver is not None
        assert self._apiserver.poll() is not None, "kill_apiserver() first"
        self.restarts += 1
        started = time.monotonic()
        self._apiserver = self._spawn(
            [str(self._apiserver_binary), *self.apiserver_flags],
            self.workdir / f"kube-apiserver-{self.restarts}.log",
        )
        self._wait_for_apiserver(started + timeout)
        return time.monotonic() - started


def kube_client(kubeconfig: Path) -> Any:
    from kubernetes import config

    return config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), persist_config=False
    )


# -- figures -----------------------------------------------------------------------------------


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def by_label(text: str, name: str, label: str) -> dict[str, float]:
    """A metric's samples summed by one label."""
    totals: Counter[str] = Counter()
    for labels, value in samples(text, name):
        totals[labels.get(label, "")] += value
    return {key: float(value) for key, value in totals.items()}
