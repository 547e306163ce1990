"""What a workflow's runner does when its conditional status write meets a 409 Conflict.

Status writes that record step progress carry the ``resourceVersion`` the runner read, so a
stale writer (an old leader, a runner that missed a change) cannot overwrite progress it has
not seen. A 409 says the object moved since; the runner reads it again and decides:

- ``GONE``: it no longer exists, or is another object of the same name (another uid): the
  runner stops; nothing of the old workflow may run or be written again.
- ``RETRY``: what status holds is still what this runner believes it holds (its last write,
  or before that the status it was started from): only metadata or spec moved, so the same
  write is sent again, conditional on the new version.
- ``MOVED``: someone else changed the status: the runner stops and the controller starts
  over from the status as read, deciding again; a step is never re-run blindly.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any


class AfterConflict(enum.Enum):
    GONE = "Gone"
    RETRY = "Retry"
    MOVED = "Moved"


def after_conflict(
    uid: str,
    believed: Mapping[str, Any],
    found_uid: str | None,
    found_status: Mapping[str, Any] | None,
) -> AfterConflict:
    """``believed``: the status this runner takes to be stored; ``found_uid`` and
    ``found_status``: the object as read again (None: it is gone). Both statuses in the same
    normal form (what the runner would write)."""
    if found_uid is None or found_uid != uid:
        return AfterConflict.GONE
    if dict(found_status or {}) == dict(believed):
        return AfterConflict.RETRY
    return AfterConflict.MOVED
