"""A minimal kopf operator: the second floor for workflow start latency.

It does the least an operator must to show a workflow as started: on the workflow's event,
one status patch (``phase: Running``). The benchmark times it exactly like the real operator.
Usage: kopf_floor.py NAMESPACE HEALTH_PORT
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import kopf

GROUP, VERSION, PLURAL = "orchestration.eoe.dev", "v1alpha1", "orchestrationworkflows"


@kopf.on.event(GROUP, VERSION, PLURAL)
def started(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    if (body.get("status") or {}).get("phase") != "Running":
        patch.status["phase"] = "Running"


def main() -> None:
    namespace, port = sys.argv[1], int(sys.argv[2])
    asyncio.run(
        kopf.operator(
            standalone=True,
            namespaces=[namespace],
            liveness_endpoint=f"http://127.0.0.1:{port}/healthz",
        )
    )


if __name__ == "__main__":
    main()
