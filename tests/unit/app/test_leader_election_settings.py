"""Leader-election settings: off by default, the lease's namespace, and timings that keep a
stale leader from overlapping a new one."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration_engine.app.settings import SettingsError, resolve


def test_off_by_default_with_client_go_timings() -> None:
    settings = resolve({}, env={})
    assert settings.leader_election is False
    assert settings.leader_election_namespace == "default"
    assert settings.leader_election_id == "orchestration-engine-leader"
    assert (
        settings.lease_duration_seconds,
        settings.renew_deadline_seconds,
        settings.retry_period_seconds,
    ) == (15, 10, 2)


def test_namespace_defaults_to_the_pods_but_the_file_wins(tmp_path: Path) -> None:
    assert resolve({}, env={"POD_NAMESPACE": "ops"}).leader_election_namespace == "ops"
    config = tmp_path / "config.yaml"
    config.write_text("leader-election-namespace: elections\nleader-election: true\n")
    settings = resolve({}, env={"POD_NAMESPACE": "ops", "ORCHESTRATION_CONFIG": str(config)})
    assert settings.leader_election_namespace == "elections"
    assert settings.leader_election is True
    assert (
        resolve(
            {"leader_election": False}, env={"ORCHESTRATION_CONFIG": str(config)}
        ).leader_election
        is False
    )  # flags beat the file


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"renew_deadline_seconds": 15}, "renew_deadline_seconds must be less"),
        ({"retry_period_seconds": 10}, "retry_period_seconds must be less"),
        ({"retry_period_seconds": 0}, "retry_period_seconds"),
    ],
)
def test_timings_are_checked(flags: dict[str, float], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        resolve(flags, env={})
