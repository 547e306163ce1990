"""app/handlers/relist.py: deletions a watch never reported are found by a LIST and delivered
as DELETED events with the object's uid; objects seen after the LIST are never dropped."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestration_engine.app.handlers import relist as relist_module
from orchestration_engine.app.handlers.relist import Kind, Relister, Sightings


def event(type_: str | None, name: str, uid: str, rv: int) -> dict[str, Any]:
    meta = {"namespace": "ns", "name": name, "uid": uid, "resourceVersion": str(rv)}
    return {"type": type_, "object": {"metadata": meta}}


class Cluster:
    """What a LIST answers: (namespace, name) -> uid, at a revision."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], str] = {}
        self.revision = 0
        self.lists = 0

    async def lister(self, api_version: str, plural: str) -> tuple[dict[Any, str], int]:
        self.lists += 1
        return dict(self.objects), self.revision


def relister(cluster: Cluster, delivered: list[dict[str, Any]], **kw: Any) -> Relister:
    async def deliver(ev: dict[str, Any]) -> None:
        delivered.append(ev)
        sightings.observe("things", ev)  # the handler taps its events, as the real ones do

    sightings = Sightings(["things"])
    relist = Relister(sightings, [Kind("v1", "things", deliver)], cluster.lister, **kw)
    return relist


async def test_a_deletion_the_watch_missed_is_delivered_with_its_uid() -> None:
    cluster, delivered = Cluster(), []
    relist = relister(cluster, delivered)
    relist.sightings.observe("things", event("ADDED", "a", "u-a", 3))
    relist.sightings.observe("things", event("ADDED", "b", "u-b", 4))
    cluster.objects, cluster.revision = {("ns", "b"): "u-b"}, 9  # a went, unreported
    assert await relist.relist("things") == 1
    assert [(e["type"], e["object"]["metadata"]["uid"]) for e in delivered] == [("DELETED", "u-a")]
    assert relist.sightings.seen("things") == 1
    assert await relist.relist("things") == 0  # delivered once


async def test_an_object_seen_after_the_list_is_kept() -> None:
    cluster, delivered = Cluster(), []
    relist = relister(cluster, delivered)
    cluster.revision = 5
    relist.sightings.observe("things", event("ADDED", "new", "u-new", 6))
    assert await relist.relist("things") == 0
    assert delivered == []


async def test_a_replaced_object_delivers_the_old_uid_deleted() -> None:
    cluster, delivered = Cluster(), []
    relist = relister(cluster, delivered)
    relist.sightings.observe("things", event("ADDED", "a", "u-old", 3))
    cluster.objects, cluster.revision = {("ns", "a"): "u-new"}, 8
    await relist.relist("things")
    assert [e["object"]["metadata"]["uid"] for e in delivered] == ["u-old"]


async def test_a_listing_reported_by_the_watch_triggers_a_list_soon() -> None:
    cluster, delivered = Cluster(), []
    relist = relister(cluster, delivered, interval_s=3600)
    relist.sightings.observe("things", event("ADDED", "a", "u-a", 3))
    await relist.start()
    try:
        cluster.revision = 7
        relist.sightings.observe(
            "things", event(None, "b", "u-b", 6)
        )  # kopf re-listed; a is not in it
        cluster.objects = {("ns", "b"): "u-b"}
        async with asyncio.timeout(5):
            while not delivered:
                await asyncio.sleep(0.05)
    finally:
        await relist.stop()
    assert [e["object"]["metadata"]["name"] for e in delivered] == ["a"]
    assert cluster.lists == 1


async def test_a_failing_list_is_retried_and_the_loop_survives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(relist_module, "RETRY_S", 0.05)
    cluster, delivered = Cluster(), []
    failures = 0

    async def flaky(api_version: str, plural: str) -> tuple[dict[Any, str], int]:
        nonlocal failures
        if failures < 1:
            failures += 1
            raise OSError("connection reset")
        return await cluster.lister(api_version, plural)

    async def deliver(ev: dict[str, Any]) -> None:
        delivered.append(ev)

    relist = Relister(
        Sightings(["things"]), [Kind("v1", "things", deliver)], flaky, interval_s=0.05
    )
    relist.sightings.observe("things", event("ADDED", "a", "u-a", 3))
    cluster.revision = 4
    await relist.start()
    try:
        async with asyncio.timeout(10):
            while not delivered:
                await asyncio.sleep(0.05)
    finally:
        await relist.stop()
    assert failures == 1
