"""The soak (tests/fmea/soak.py), shortened for `make test`: 75 s of load (~105 s in all) at
100 services, with the same verdicts: RSS growth under 10 %, asyncio tasks settled after the
load, /healthz 200 throughout, the engine's heartbeat never older than the stall limit, every
workflow Succeeded. The full 30 minutes at 1,000 services is the script's (`make fmea` runs
it), so this test is short whatever FMEA_FULL says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fmea_disruption_support import apply_crds
from soak import run_soak, summary

pytestmark = pytest.mark.cluster

SERVICES = 100
DURATION_S = 75.0
WARMUP_S = 25.0


@pytest.mark.timeout(300)
def test_soak_memory_tasks_and_watches_stay_flat(
    control_plane: Any, kube_api: Any, namespace: str, tmp_path: Path
) -> None:
    apply_crds(kube_api)
    out = tmp_path / "soak.json"
    soak = run_soak(
        control_plane.kubeconfig,
        kube_api,
        namespace,
        services=SERVICES,
        duration_s=DURATION_S,
        warmup_s=WARMUP_S,
        out=out,
        workdir=tmp_path,
    )
    print(summary(soak), f"\nfigures: {out}", flush=True)
    verdicts = soak.verdicts
    assert json.loads(out.read_text())["verdicts"] == verdicts
    assert verdicts["rss_ok"], verdicts
    assert verdicts["tasks_ok"], verdicts
    assert verdicts["healthz_ok"], soak.healthz_failures[:10]
    assert verdicts["heartbeat_ok"], verdicts
    assert verdicts["workflows_ok"], (soak.workflows_failed[:10], soak.feed_errors[:10])
