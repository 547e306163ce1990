"""The operator's log (plumbing/logs.py): JSON lines that parse and carry the object and the
reconcile id, per-module levels, the text format, and redaction of every secret-looking value."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from orchestration_engine.plumbing.logs import (
    JsonFormatter,
    LogConfigError,
    LogFormat,
    LogSettings,
    TextFormatter,
    configure,
    parse_module_levels,
    reconciling,
    redact_text,
    resolve_log_settings,
)

PASSWORD = "pw-3c9e1d-do-not-log"
TOKEN = "tok-8a41f0-do-not-log"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The log configured into a buffer; the root logger, module levels, warnings capture and
    excepthook as they were afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    touched = ["tests.logs", "tests.logs.store", "kopf", "orchestration_engine.handlers"]
    levels = {name: logging.getLogger(name).level for name in touched}
    hook = sys.excepthook
    buffer = io.StringIO()
    yield buffer
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)
    logging.captureWarnings(False)
    sys.excepthook = hook


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_json_lines_parse_and_carry_the_basics(stream: io.StringIO) -> None:
    configure(LogSettings(LogFormat.JSON), stream)
    log = logging.getLogger("tests.logs")
    log.info("hello %s", "world")
    log.warning('quotes " and \n newlines stay one line')
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("it failed")
    raw = stream.getvalue().splitlines()
    assert len(raw) == 3  # one object per line, even for a traceback
    hello, quoted, failed = lines(stream)
    assert hello["message"] == "hello world"
    assert hello["level"] == "INFO"
    assert hello["logger"] == "tests.logs"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", hello["time"])
    assert quoted["message"] == 'quotes " and \n newlines stay one line'
    assert failed["level"] == "ERROR"
    assert "RuntimeError: boom" in failed["exception"]
    assert "namespace" not in hello
    assert "reconcileID" not in hello


def test_reconciling_puts_object_and_reconcile_id_on_every_line(stream: io.StringIO) -> None:
    configure(
        LogSettings(LogFormat.JSON, modules={"orchestration_engine.handlers": logging.DEBUG}),
        stream,
    )
    log = logging.getLogger("tests.logs")
    seen: list[Any] = []

    async def handler(event: dict[str, Any], **_: Any) -> str:
        log.info("inside")

        async def spawned() -> None:
            log.info("in a task it started")

        await asyncio.create_task(spawned())
        seen.append(event["type"])
        return "done"

    wrapped = reconciling(handler)
    body = {
        "kind": "OrchestratedService",
        "metadata": {"namespace": "shop", "name": "payments"},
    }
    for _ in range(2):
        assert asyncio.run(wrapped(event={"type": "MODIFIED", "object": body})) == "done"
    log.info("outside")
    assert seen == ["MODIFIED", "MODIFIED"]
    records = lines(stream)
    inside = [r for r in records if r["message"] in ("inside", "in a task it started")]
    assert len(inside) == 4
    for record in inside:
        assert record["namespace"] == "shop"
        assert record["name"] == "payments"
        assert record["kind"] == "OrchestratedService"
        assert record["reconcileID"]
    first, second = inside[0]["reconcileID"], inside[2]["reconcileID"]
    assert inside[1]["reconcileID"] == first  # the task inherits it
    assert first != second  # each event is a reconcile of its own
    handling = [r for r in records if r["logger"] == "orchestration_engine.handlers"]
    assert handling[0]["message"] == "handling MODIFIED OrchestratedService"
    outside = next(r for r in records if r["message"] == "outside")
    assert "reconcileID" not in outside
    assert "name" not in outside
    assert wrapped.__name__ == "handler"  # kopf derives the handler id from it


def test_kopf_object_references_become_fields(stream: io.StringIO) -> None:
    configure(LogSettings(LogFormat.JSON), stream)
    ref = {"kind": "OrchestrationWorkflow", "namespace": "ops", "name": "nightly", "uid": "u"}
    logging.getLogger("kopf.objects").info("Handler succeeded", extra={"k8s_ref": ref})
    (record,) = lines(stream)
    assert (record["kind"], record["namespace"], record["name"]) == (
        "OrchestrationWorkflow",
        "ops",
        "nightly",
    )


@pytest.mark.parametrize(
    "message",
    [
        f"store unreachable at postgresql://eoe:{PASSWORD}@db:5432/eoe",
        f"webhook said: rejected Bearer {TOKEN}",
        f"headers {{'Authorization': 'Bearer {TOKEN}'}}",
        f"Authorization: {TOKEN}",
        f"dsn host=db password={PASSWORD} dbname=eoe",
        f'{{"token": "{TOKEN}", "user": "x"}}',
        f"PGPASSWORD={PASSWORD}",
    ],
)
def test_secrets_are_redacted_in_both_formats(stream: io.StringIO, message: str) -> None:
    for log_format in LogFormat:
        stream.seek(0)
        stream.truncate()
        configure(LogSettings(log_format), stream)
        log = logging.getLogger("tests.logs")
        log.warning("%s", message)
        try:
            raise ValueError(message)
        except ValueError:
            log.exception("failed")
        text = stream.getvalue()
        assert PASSWORD not in text, log_format
        assert TOKEN not in text, log_format
        assert "***" in text


def test_redaction_keeps_what_is_not_secret() -> None:
    for text in (
        "service shop/payments is HEALTHY (12.5 ms)",
        "http://payments.shop.svc:8080/healthz answered 503",
        "engine spec {'tokenSecretRef': {'name': 'hook-token', 'key': 'token'}}",
    ):
        assert redact_text(text) == text


def test_levels_per_module(stream: io.StringIO) -> None:
    configure(
        LogSettings(LogFormat.JSON, logging.WARNING, {"tests.logs.store": logging.DEBUG}), stream
    )
    logging.getLogger("tests.logs").info("dropped: root is WARNING")
    logging.getLogger("tests.logs.store").debug("kept: its module is DEBUG")
    logging.getLogger("tests.logs").warning("kept: a warning")
    assert [r["message"] for r in lines(stream)] == [
        "kept: its module is DEBUG",
        "kept: a warning",
    ]


def test_configuring_twice_keeps_one_handler(stream: io.StringIO) -> None:
    configure(LogSettings(LogFormat.TEXT), stream)
    configure(LogSettings(LogFormat.JSON), stream)
    logging.getLogger("tests.logs").warning("once")
    assert len(stream.getvalue().splitlines()) == 1


def test_warnings_become_json_lines(stream: io.StringIO) -> None:
    configure(LogSettings(LogFormat.JSON), stream)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("something is deprecated", DeprecationWarning, stacklevel=1)
    (record,) = lines(stream)
    assert record["logger"] == "py.warnings"
    assert "something is deprecated" in record["message"]


def test_text_format_names_the_object() -> None:
    record = logging.LogRecord("kopf.objects", logging.INFO, __file__, 1, "hello", None, None)
    record.k8s_ref = {"namespace": "shop", "name": "payments"}
    line = TextFormatter().format(record)
    assert line.endswith("INFO kopf.objects: [shop/payments] hello")
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "pw=%s", (PASSWORD,), None)
    assert PASSWORD not in TextFormatter().format(plain)
    assert json.loads(JsonFormatter().format(plain))["message"] == "pw=***"


def test_settings_from_flags_then_environment() -> None:
    env = {"LOG_FORMAT": "json", "LOG_LEVEL": "warning", "LOG_LEVELS": "kopf=ERROR,a.b=DEBUG"}
    settings = resolve_log_settings(None, None, None, env)
    assert settings.format is LogFormat.JSON
    assert settings.level == logging.WARNING
    assert settings.modules == {"kopf": logging.ERROR, "a.b": logging.DEBUG}
    settings = resolve_log_settings("text", "DEBUG", ["a.b=INFO", "c=WARNING"], env)
    assert settings.format is LogFormat.TEXT
    assert settings.level == logging.DEBUG
    assert settings.modules == {"kopf": logging.ERROR, "a.b": logging.INFO, "c": logging.WARNING}
    defaults = resolve_log_settings(None, None, None, {})
    assert (defaults.format, defaults.level, defaults.modules) == (LogFormat.TEXT, logging.INFO, {})


@pytest.mark.parametrize(
    ("format", "level", "modules", "problem"),
    [
        ("yaml", None, None, "unknown log format 'yaml'"),
        (None, "LOUD", None, "unknown log level 'LOUD'"),
        (None, None, ["kopf"], "expected MODULE=LEVEL, got 'kopf'"),
        (None, None, ["kopf=LOUD"], "unknown log level 'LOUD'"),
    ],
)
def test_bad_settings_are_named(
    format: str | None, level: str | None, modules: list[str] | None, problem: str
) -> None:
    with pytest.raises(LogConfigError, match=problem):
        resolve_log_settings(format, level, modules, {})


def test_module_levels_accept_lists_and_repeats() -> None:
    assert parse_module_levels(["a=DEBUG, b=INFO", "", "a=ERROR"]) == {
        "a": logging.ERROR,
        "b": logging.INFO,
    }
