"""Deletions the watches never reported, found by a fresh LIST and delivered as events.

kopf re-lists a kind when its watch cannot resume (``410 Gone``, an API server restart) and
reports each object it finds as an event of type None, but never the objects that were
deleted meanwhile: their DELETED events are lost, and every cache fed by the watch (the
workflow controller, the service monitor, the workload and discovery caches) would keep
them: a deleted workflow's runner would go on, a deleted service would still be probed and
counted toward the emergency halt.

So every event of the kinds below is also seen here (the last uid and resourceVersion of
each object), and after every listing kopf reports, and every ``interval_s`` in any case (a
re-list that finds no object at all reports nothing), one LIST of the kind's metadata is
compared with what was seen (core/relist.py). Each object found gone is delivered to the
kind's own handler as a DELETED event carrying its uid, so one path handles every deletion,
however it was learnt. Caches match deletions by uid, never by name alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestration_engine.core.relist import Seen, vanished, version_number
from orchestration_engine.kube.client import ApiClient
from orchestration_engine.kube.listing import ObjectKey, list_uids
from orchestration_engine.plumbing import metrics
from orchestration_engine.plumbing.lifecycle import Lifecycle
from orchestration_engine.plumbing.periodic import Periodic

log = logging.getLogger(__name__)

# Marks the events this module delivers, so they never count as a kopf listing themselves.
SYNTHETIC = "relisted"
# A listing is reported object by object; the LIST waits until it has been quiet this long,
# so one re-list of many objects costs about one LIST. (Correctness does not depend on it: an
# object seen after the LIST was taken is never taken for gone.)
LISTING_QUIET_S = 1.0
RETRY_S = 5.0

Deliver = Callable[[dict[str, Any]], Awaitable[None]]
Lister = Callable[[str, str], Awaitable[tuple[dict[ObjectKey, str], int]]]


@dataclass
class Kind:
    api_version: str
    plural: str
    deliver: Deliver  # the kind's own event handler


class Sightings:
    """What the watches reported of each relisted kind: the handlers tap their events here."""

    def __init__(
        self, plurals: Iterable[str], *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.monotonic = monotonic
        self.objects: dict[str, dict[ObjectKey, Seen]] = {plural: {} for plural in plurals}
        self.listing_at: dict[str, float] = {}  # plural -> when kopf last reported a listing
        self.wakeup = asyncio.Event()

    def observe(self, plural: str, event: Mapping[str, Any]) -> None:
        """Every watch event of a kind listed here (and those delivered by this module)."""
        seen = self.objects.get(plural)
        if seen is None:
            return
        meta = (event.get("object") or {}).get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        uid = str(meta.get("uid", ""))
        if event.get("type") == "DELETED":
            last = seen.get(key)
            if last is not None and last.uid == uid:
                del seen[key]
            return
        seen[key] = Seen(uid, version_number(meta.get("resourceVersion")))
        if event.get("type") is None and not event.get(SYNTHETIC):
            self.listing_at[plural] = self.monotonic()
            self.wakeup.set()

    def seen(self, plural: str) -> int:
        return len(self.objects.get(plural, {}))


class Relister(Lifecycle):
    def __init__(
        self,
        sightings: Sightings,
        kinds: Iterable[Kind],
        lister: Lister,
        *,
        interval_s: float = 60.0,
    ) -> None:
        self.sightings = sightings
        self.kinds = {kind.plural: kind for kind in kinds}
        self._list = lister
        self._interval = interval_s
        # The sightings' clock: their listing times are compared with this one's.
        self._monotonic = sightings.monotonic
        self._seen = sightings.objects
        self._listing_at = sightings.listing_at
        self._wakeup = sightings.wakeup
        self._due: dict[str, float] = {}
        self._task = Periodic(
            "relist", self._round, wakeup=self._wakeup, first_wait_s=self._first_wait
        )
        self.delivered = 0

    # --- the LIST ---------------------------------------------------------------------------

    async def relist(self, plural: str) -> int:
        """Compare one fresh LIST with what was seen; deliver each deletion. How many."""
        kind = self.kinds[plural]
        listed, version = await self._list(kind.api_version, plural)
        gone = vanished(self._seen[plural], listed, version)
        for key in gone:
            last = self._seen[plural].get(key)
            if last is None:
                continue  # its DELETED event came while the LIST was in flight
            event = {
                "type": "DELETED",
                "object": {
                    "metadata": {
                        "namespace": key[0],
                        "name": key[1],
                        "uid": last.uid,
                        "resourceVersion": str(version),
                    }
                },
                SYNTHETIC: True,
            }
            log.warning(
                "%s %s/%s is gone but its deletion was never reported by the watch "
                "(it re-listed); handling it as deleted now",
                plural,
                *key,
            )
            metrics.RELIST_DELETIONS.labels(plural).inc()
            self.delivered += 1
            try:
                await kind.deliver(event)
            except Exception:
                log.exception("%s %s/%s: handling its missed deletion failed", plural, *key)
        return len(gone)

    # --- the loop ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    def _first_wait(self) -> float:
        self._due = {plural: self._monotonic() + self._interval for plural in self.kinds}
        return self._until_next()

    async def _round(self) -> float:
        """The LIST of each kind that is due, or whose listing went quiet; seconds until the
        next is due (woken early by a listing)."""
        now = self._monotonic()
        for plural in self.kinds:
            listing = self._listing_at.get(plural)
            after_listing = listing is not None and now >= listing + LISTING_QUIET_S
            if not after_listing and now < self._due[plural]:
                continue
            self._listing_at.pop(plural, None)
            try:
                await self.relist(plural)
                self._due[plural] = self._monotonic() + self._interval
            except asyncio.CancelledError:
                raise
            except Exception as error:
                metrics.RELIST_ERRORS.labels(plural).inc()
                log.warning("%s: the LIST to find missed deletions failed: %s", plural, error)
                self._due[plural] = self._monotonic() + RETRY_S
        return self._until_next()

    def _until_next(self) -> float:
        wake = min(self._due.values())
        for at in self._listing_at.values():
            wake = min(wake, at + LISTING_QUIET_S)
        return max(0.0, wake - self._monotonic())


def api_lister(api: ApiClient, namespaces: Iterable[str]) -> Lister:
    scopes = list(namespaces)

    async def lister(api_version: str, plural: str) -> tuple[dict[ObjectKey, str], int]:
        return await list_uids(api, api_version, plural, scopes)

    return lister
