"""`run`'s options and OperatorSettings agree: each setting with an option has exactly one,
every option but the log's and --all-namespaces sets a setting, and each default lives in the
model alone (the options are None, "not given", and their help quotes the model)."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
import typer.main

from orchestration_engine.app.settings import OperatorSettings, resolve
from orchestration_engine.cli.main import app
from orchestration_engine.cli.run import (
    CONFIG_FILE_ONLY,
    RUN_OPTION_FIELDS,
    default_text,
    run,
)

# `run` options that are not operator settings.
NOT_SETTINGS = {"all_namespaces", "log_format", "log_level", "log_level_module"}


def run_options() -> dict[str, Any]:
    """`run`'s options as the command line parses them (typer's own click)."""
    command: Any = typer.main.get_command(app)
    return {p.name: p for p in command.commands["run"].params if p.name}


def test_every_setting_has_an_option_or_is_named_config_file_only() -> None:
    with_option = set(RUN_OPTION_FIELDS.values())
    assert len(with_option) == len(RUN_OPTION_FIELDS), "two options set one setting"
    assert not with_option & CONFIG_FILE_ONLY
    assert with_option | CONFIG_FILE_ONLY == set(OperatorSettings.model_fields)


def test_every_option_sets_a_setting_or_is_named_not_one() -> None:
    parameters = set(inspect.signature(run).parameters)
    assert parameters == set(run_options())
    assert set(RUN_OPTION_FIELDS) | NOT_SETTINGS == parameters
    assert not set(RUN_OPTION_FIELDS) & NOT_SETTINGS


@pytest.mark.parametrize("name", sorted(RUN_OPTION_FIELDS))
def test_an_option_holds_no_default_of_its_own(name: str) -> None:
    # None is "not given": the environment, the config file or the model decides.
    assert run_options()[name].default is None
    assert inspect.signature(run).parameters[name].default is None


def test_no_options_resolve_to_the_models_defaults() -> None:
    given = {name: None for name in RUN_OPTION_FIELDS}
    settings = resolve({RUN_OPTION_FIELDS[n]: v for n, v in given.items()}, env={})
    assert settings == OperatorSettings(leader_election_namespace="default")


QUOTED = re.compile(r"\((?P<default>[^;()]+)(; [^()]*)?\)\.$")


@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n, field in RUN_OPTION_FIELDS.items()
        # The engine's spec decides when these are unset, or (namespaces) -A says it.
        if field not in {"namespaces", "quantum", "ai", "max_workflows", "monitoring_interval"}
        and field not in {"store_spill_path", "emergency_halt"}
    ),
)
def test_the_help_quotes_the_models_default(name: str) -> None:
    help_text = " ".join((run_options()[name].help or "").split())
    quoted = QUOTED.search(help_text)
    assert quoted, help_text
    assert quoted["default"] == default_text(RUN_OPTION_FIELDS[name])


def test_default_text_reads_the_model() -> None:
    assert default_text("metrics_port") == "8080"
    assert default_text("watch_stall_seconds") == "180"
    assert default_text("probe_process") == "on"
    assert default_text("leader_election") == "off"
    assert default_text("store_max_size") == "none"
    assert default_text("namespaces") == "[]"
