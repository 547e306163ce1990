"""Which cached objects a fresh LIST shows to be gone: the deletions a watch never reported.

kopf re-lists after a watch ends with ``410 Gone`` (or the API server restarts) and reports
every object it finds, but never the ones it no longer finds: their DELETED events are lost.
Every cache fed by watch events (workflows, services, workloads) would keep them forever, so
the operator compares what it has seen with a fresh LIST, as client-go's informers do with
their ``Replace``, and delivers the missing deletions itself.

An object is gone when its last seen version is no newer than the LIST (so it existed when
the LIST was taken) and the LIST does not hold it, or holds another object (another uid) of
the same name. Objects seen after the LIST was taken are left alone: they are newer than it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Seen:
    """An object as the last watch event showed it (one per watched object: kept small)."""

    uid: str
    resource_version: int


def vanished(seen: Mapping[K, Seen], listed: Mapping[K, str], list_version: int) -> list[K]:
    """The keys whose object is gone, given a LIST (key -> uid) at ``list_version``."""
    gone = []
    for key, last in seen.items():
        if last.resource_version > list_version:
            continue  # seen after the LIST was taken: the LIST cannot speak for it
        if listed.get(key) != last.uid:
            gone.append(key)
    return gone


def version_number(text: object) -> int:
    """A resourceVersion as a number (etcd revisions are; the API calls them opaque). An
    unreadable one counts as 0: as old as can be, so a LIST without it never drops an object
    seen since, and a LIST that omits the object drops it."""
    try:
        return int(str(text))
    except (TypeError, ValueError):
        return 0
