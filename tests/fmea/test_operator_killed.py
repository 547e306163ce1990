"""The operator SIGKILLed at random points while workflows run (``http`` steps against a
counting server, ``delay`` steps, ``job`` steps whose Job the test completes), and started
again each time: every workflow Succeeds and every step's side effect happens exactly once.

Kill points: after each (re)start the operator lives a random 0.2-4 s (seeded; the seed is
printed and FMEA_SEED replays it) while new workflows keep arriving, so kills land before,
during and after steps' starts, requests, Job creations and result writes. The server counts
a request when it arrives and answers it 0.5 s later, so some kills fall between an
``http`` step's effect and its recorded result. 10 kills with FMEA_FULL=1, 3 otherwise.

"Exactly once" for an ``http`` step means one Idempotency-Key per step (the server here
honours it, as docs/workflows.md asks of servers): a request interrupted after it left and
before its result was recorded is sent again with the same key, and such re-deliveries are
counted and printed. For a ``job`` step it means one Job per step, never deleted and made
again (its uid is the same throughout).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fmea_disruption_support import (
    GROUP,
    JOB_TEMPLATE,
    TERMINAL,
    VERSION,
    CountingServer,
    JobPlayer,
    OperatorLife,
    SlowAnswers,
    delay,
    effects,
    http_step,
    moment,
    pick,
    seeded,
    steps,
    wait_for,
    workflow,
)

pytestmark = pytest.mark.cluster

KILLS = pick(3, 10)
ANSWER_AFTER_S = 0.5
WORKFLOWS_PER_LIFE = 2
HTTP_STEPS = ("announce", "confirm", "notify")
ACTIONS = {"warm": "delay", "settle": "delay", "migrate": "job"} | dict.fromkeys(HTTP_STEPS, "http")
PLURAL = "orchestrationworkflows"


@pytest.fixture
def server(server: CountingServer) -> CountingServer:
    """tests/conftest.py's server, each request answered 0.5 s after it counted: kills land
    between effect and result."""
    server.answers = SlowAnswers(ANSWER_AFTER_S)
    return server


def body(name: str, server: CountingServer, warm_seconds: int) -> dict[str, Any]:
    """announce → (warm delay ∥ migrate job) → confirm → settle delay → notify."""
    return workflow(
        name,
        [
            http_step("announce", server.url(f"/{name}/announce")),
            delay("warm", warm_seconds, dependsOn=["announce"]),
            {
                "name": "migrate",
                "action": "job",
                "params": {"template": JOB_TEMPLATE},
                "dependsOn": ["announce"],
            },
            http_step("confirm", server.url(f"/{name}/confirm"), dependsOn=["warm", "migrate"]),
            delay("settle", 1, dependsOn=["confirm"]),
            http_step("notify", server.url(f"/{name}/notify"), dependsOn=["settle"]),
        ],
    )


def running_steps(custom: Any, namespace: str) -> dict[str, list[str]]:
    """What the dead operator left in status: each unfinished workflow's Running steps."""
    found = {}
    for item in custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]:
        status = item.get("status") or {}
        if status.get("phase") in TERMINAL:
            continue
        running = [n for n, s in steps(status).items() if s.get("phase") == "Running"]
        found[item["metadata"]["name"]] = running or [status.get("phase") or "new"]
    return found


@pytest.mark.timeout(pick(240, 900))
def test_sigkill_at_random_points_runs_every_side_effect_once(
    control_plane: Any,
    custom: Any,
    kube_api: Any,
    namespace: str,
    server: CountingServer,
    tmp_path: Path,
) -> None:
    from kubernetes import client

    seed, rng = seeded("operator killed")
    began = time.monotonic()
    life = OperatorLife(control_plane.kubeconfig, tmp_path, "--namespace", namespace)
    player = JobPlayer(kube_api, namespace, rng, (0.5, 2.5))
    names: list[str] = []
    warm: dict[str, int] = {}
    kills: list[str] = []
    landed: Counter[str] = Counter()  # what was executing at the kills, by action
    try:
        for point in range(KILLS):
            for _ in range(WORKFLOWS_PER_LIFE):
                name = f"wf-{len(names):02d}"
                warm[name] = rng.randint(1, 3)
                custom.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, body(name, server, warm[name])
                )
                names.append(name)
            lived = rng.uniform(0.2, 4.0)
            time.sleep(lived)
            life.crash()
            at_kill = running_steps(custom, namespace)
            landed.update(ACTIONS.get(step, step) for found in at_kill.values() for step in found)
            kills.append(f"kill {point + 1} after {lived:.2f} s: {at_kill}")
            print(kills[-1], flush=True)
            life.start()

        def unfinished() -> list[str]:
            phases = {
                item["metadata"]["name"]: (item.get("status") or {}).get("phase")
                for item in custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)[
                    "items"
                ]
            }
            return [n for n in names if phases.get(n) not in TERMINAL]

        try:
            wait_for(lambda: not unfinished(), timeout=120, interval=0.5, what="every workflow")
        except TimeoutError as error:
            raise AssertionError(f"{error}: {unfinished()}\n{life.logs()}") from None
    finally:
        player.close()
        life.stop()

    objects = {
        n: custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, n) for n in names
    }
    finals = {n: obj["status"] for n, obj in objects.items()}
    assert {n: s["phase"] for n, s in finals.items()} == dict.fromkeys(names, "Succeeded")

    # Every step started once: a step found Running after a kill resumed as the same attempt.
    attempts = {
        (n, step): s["attempts"]
        for n, status in finals.items()
        for step, s in steps(status).items()
    }
    assert {k: a for k, a in attempts.items() if a != 1} == {}

    # http: one effect (one Idempotency-Key) per step, on every workflow; nothing else called.
    done = effects(server)
    expected_paths = {f"/{n}/{step}" for n in names for step in HTTP_STEPS}
    assert set(done) == expected_paths
    assert {path: keys for path, keys in done.items() if len(keys) != 1} == {}
    for path, keys in done.items():
        _, name, step = path.split("/")
        assert keys == {f"{objects[name]['metadata']['uid']}/step/{step}/1"}, path
    deliveries = sum(server.hits.values())

    # job: one Job per step, never made twice.
    jobs = {
        j.metadata.name for j in client.BatchV1Api(kube_api).list_namespaced_job(namespace).items
    }
    assert jobs == {f"{n}-migrate" for n in names}
    assert {name: uids_ for name, uids_ in player.uids.items() if len(uids_) != 1} == {}

    # delay: resumed from its recorded start, never cut short.
    for n, status in finals.items():
        for step, seconds in (("warm", warm[n]), ("settle", 1)):
            s = steps(status)[step]
            waited = (moment(s["finishedAt"]) - moment(s["startedAt"])).total_seconds()
            assert waited >= seconds - 0.5, (n, step, waited)

    print(
        f"operator killed {KILLS} times (seed {seed}): {len(names)} workflows Succeeded, "
        f"{len(expected_paths)} http effects once each ({deliveries - len(expected_paths)} "
        f"re-deliveries with the same key), {len(jobs)} Jobs once each, "
        f"{time.monotonic() - began:.0f} s in all; steps executing at the kills: "
        f"{dict(landed)}",
        flush=True,
    )
