"""The monitor forgets a deleted service by uid: it is no longer probed or counted, and a
late deletion of an older object never removes its successor of the same name."""

from __future__ import annotations

from typing import Any

import pytest

from orchestration_engine.controllers.services.service_monitor import ServiceMonitor
from orchestration_engine.probes.target import ProbeTarget


class Scheduler:
    def __init__(self) -> None:
        self.probed: set[Any] = set()

    def upsert(self, key: Any, target: ProbeTarget, period_s: float) -> None:
        self.probed.add(key)

    def remove(self, key: Any) -> None:
        self.probed.discard(key)


class Statuses:
    def submit(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        pass

    def forget(self, plural: str, namespace: str, name: str) -> None:
        pass


class Events:
    def record(self, *_: Any) -> None:
        pass


def service(uid: str) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "shop", "name": "web", "uid": uid, "generation": 1},
        "spec": {"healthCheck": {"http": {"url": "http://web.shop.svc/healthz"}}},
    }


def monitor() -> tuple[ServiceMonitor, Scheduler]:
    scheduler = Scheduler()
    return ServiceMonitor(scheduler=scheduler, statuses=Statuses(), events=Events()), scheduler


def test_a_deleted_service_is_no_longer_probed_or_counted() -> None:
    watched, scheduler = monitor()
    watched.observe(None, service("u1"))
    assert scheduler.probed == {("shop", "web")}
    told: list[Any] = []
    watched.health_listeners.append(told.append)
    watched.observe("DELETED", service("u1"))
    assert scheduler.probed == set()
    assert watched.entries == {}
    assert told == [("shop", "web")]  # the engine counts and judges the halt again


def test_a_late_deletion_of_the_old_object_keeps_the_new_one() -> None:
    watched, scheduler = monitor()
    watched.observe(None, service("u1"))
    watched.observe(None, service("u2"))  # replaced under the same name
    watched.observe("DELETED", service("u1"))
    assert watched.entries[("shop", "web")].uid == "u2"
    assert scheduler.probed == {("shop", "web")}


def test_other_components_read_the_services_through_a_live_read_only_view() -> None:
    watched, _ = monitor()
    view = watched.services
    watched.observe(None, service("u1"))
    assert list(view) == [("shop", "web")]  # live: no copy to go stale
    read = view[("shop", "web")]
    assert (read.key, read.active_target, read.inconclusive) == (("shop", "web"), "primary", False)
    with pytest.raises(TypeError):
        view[("shop", "other")] = read  # type: ignore[index]
    watched.observe("DELETED", service("u1"))
    assert ("shop", "web") not in view
