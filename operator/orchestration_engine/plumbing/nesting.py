"""Room for the deepest JSON the API server stores.

The API server accepts JSON nested up to 10,000 levels; its free-form fields (a ``patch``
step's merge patch, a ``job`` step's template, an ``http`` body) may be that deep. Python's
JSON decoder counts each level against the interpreter's recursion limit (1,000 by default),
so one such workflow made every watch event and listing of its kind fail to decode, for all
workflows (docs/fmea.md, "Absurd but valid input"). The limit is raised enough to read what the
server stores; the models then refuse a spec that deep by name (pydantic's own depth limit),
and the object is Stalled.
"""

from __future__ import annotations

import sys

# The API server's nesting limit, with room for the frames that decode it.
API_SERVER_MAX_DEPTH = 10_000
RECURSION_LIMIT = 3 * API_SERVER_MAX_DEPTH


def allow_api_server_nesting() -> None:
    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)
