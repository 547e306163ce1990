"""Settings precedence: flags > environment > ORCHESTRATION_CONFIG file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration_engine.app.settings import DEFAULT_DATABASE_URL, SettingsError, resolve


def test_defaults() -> None:
    settings = resolve({}, env={})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.metrics_port == 8080
    assert settings.clusterwide


def test_precedence(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "database-url: sqlite:///file.db\nquantum: true\nmonitoring_interval: 7\nai: true\n"
    )
    env = {
        "ORCHESTRATION_CONFIG": str(config),
        "ORCHESTRATION_DATABASE_URL": "sqlite:///env.db",
        "QUANTUM_OPTIMIZATION": "false",
    }
    settings = resolve({"database_url": None, "quantum": True}, env=env)
    assert settings.quantum is True  # flag beats environment
    assert settings.database_url == "sqlite:///env.db"  # environment beats file
    assert settings.monitoring_interval == 7  # file beats default
    assert settings.ai is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MONITORING_INTERVAL": "soon"}, "invalid literal"),
        ({"AI_DECISION_MAKING": "perhaps"}, "expected true or false"),
        ({"ORCHESTRATION_CONFIG": "/nonexistent/config.yaml"}, "No such file"),
    ],
)
def test_bad_sources_are_clear(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        resolve({}, env=env)


def test_bad_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("- a list\n")
    with pytest.raises(SettingsError, match="expected a mapping"):
        resolve({}, env={"ORCHESTRATION_CONFIG": str(config)})
    config.write_text("metrics_port: -1\n")
    with pytest.raises(SettingsError, match="metrics_port"):
        resolve({}, env={"ORCHESTRATION_CONFIG": str(config)})


def test_the_store_budget_is_checked_when_the_settings_are_read() -> None:
    assert resolve({"store_max_size": "80%"}, env={}).store_max_size == "80%"
    assert resolve({"store_max_size": "20Gi"}, env={}).history_retention_days == 90
    with pytest.raises(SettingsError, match="not a size"):
        resolve({"store_max_size": "lots"}, env={})
    with pytest.raises(SettingsError, match="share of the volume needs a SQLite file"):
        resolve({"store_max_size": "80%", "database_url": "postgresql://u@db/eoe"}, env={})
