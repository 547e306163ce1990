"""The operator's log: text for people, JSON lines for log pipelines, levels per module, and
no secret ever.

One handler on the root logger, so kopf's own messages (which it sends to the ``kopf.*``
loggers when it runs embedded, as here) come out in the same format as ours. Each line says,
when it is known, which object it is about: kopf's object loggers attach a reference to the
record (``k8s_ref``); our watch handlers are wrapped in :func:`reconciling`, which puts the
object and a fresh reconcile id into context variables for everything logged while the
handler runs (and in tasks it starts, which inherit them) — the same fields
controller-runtime logs (``namespace``, ``name``, ``reconcileID``), so the same queries work.

Redaction is the last thing done to every line, whatever logged it: URL credentials
(``postgresql://user:secret@``), ``Authorization`` headers and bearer tokens,
``password=``-style pairs. Secrets are kept out of messages at the source too; this is the
net under that.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "***"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class LogConfigError(ValueError):
    """A log format or level that cannot be used; the message names it."""


# --- redaction ------------------------------------------------------------------------------

_SENSITIVE_NAMES = (
    r"password|passwd|pwd?|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret|"
    r"private[_-]?key|credentials?"
)


def _authorization(match: re.Match[str]) -> str:
    scheme = match.group(2)
    return f"{match.group(1)}{scheme + ' ' if scheme else ''}{REDACTED}"


_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # scheme://user:secret@host — the password of any URL.
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), rf"\1{REDACTED}@"),
    # Authorization: Bearer abc / 'Authorization': 'Basic abc' / authorization=abc
    (
        re.compile(
            r"""(authorization["']?\s*[:=]\s*["']?)(?:(bearer|basic|token|digest)\s+)?[^\s"',;}]+""",
            re.IGNORECASE,
        ),
        _authorization,
    ),
    # A bearer token anywhere else.
    (re.compile(r"(\bbearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), rf"\1{REDACTED}"),
    # password=abc, "token": "abc", secret: abc, PGPASSWORD=abc
    (
        re.compile(
            rf"""((?:{_SENSITIVE_NAMES})["']?\s*[:=]\s*["']?)[^\s"'&,;}})\]]+""", re.IGNORECASE
        ),
        rf"\1{REDACTED}",
    ),
)


def redact_text(text: str) -> str:
    """``text`` with every credential-looking value replaced by ``***``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# --- object context -------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectContext:
    kind: str | None
    namespace: str | None
    name: str | None
    reconcile_id: str | None


_object: contextvars.ContextVar[ObjectContext | None] = contextvars.ContextVar(
    "orchestration_engine_log_object", default=None
)

handler_log = logging.getLogger("orchestration_engine.handlers")

P = ParamSpec("P")
R = TypeVar("R")


def new_reconcile_id() -> str:
    return str(uuid.uuid4())


def _event_body(kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    event = kwargs.get("event")
    if isinstance(event, Mapping) and isinstance(event.get("object"), Mapping):
        body: Mapping[str, Any] = event["object"]
        return body
    given = kwargs.get("body")
    return given if isinstance(given, Mapping) else {}


def reconciling(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Run a kopf handler with its object and a new reconcile id in the log context."""

    @functools.wraps(handler)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        body = _event_body(kwargs)
        meta = body.get("metadata") or {}
        context = ObjectContext(
            kind=body.get("kind"),
            namespace=meta.get("namespace") or None,
            name=meta.get("name"),
            reconcile_id=new_reconcile_id(),
        )
        token = _object.set(context)
        try:
            event = kwargs.get("event")
            handler_log.debug(
                "handling %s %s",
                (event.get("type") if isinstance(event, Mapping) else None) or "LISTED",
                context.kind or "object",
            )
            return await handler(*args, **kwargs)
        finally:
            _object.reset(token)

    return wrapper


def current_object() -> ObjectContext | None:
    return _object.get()


def _object_fields(record: logging.LogRecord) -> dict[str, str]:
    """kind, namespace, name and reconcileID of the record, where known."""
    fields: dict[str, str] = {}
    context = _object.get()
    if context is not None:
        for key, value in (
            ("kind", context.kind),
            ("namespace", context.namespace),
            ("name", context.name),
            ("reconcileID", context.reconcile_id),
        ):
            if value:
                fields[key] = value
    ref = getattr(record, "k8s_ref", None)  # kopf's object loggers
    if isinstance(ref, Mapping):
        for key in ("kind", "namespace", "name"):
            if ref.get(key):
                fields[key] = str(ref[key])
    return fields


# --- formatters -----------------------------------------------------------------------------


class TextFormatter(logging.Formatter):
    """The classic line, with ``[namespace/name]`` before messages about an object."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        fields = _object_fields(record)
        line = super().format(record)
        if fields.get("name"):
            where = "/".join(v for v in (fields.get("namespace"), fields["name"]) if v)
            prefix = f"{record.name}: "
            line = line.replace(prefix, f"{prefix}[{where}] ", 1)
        return redact_text(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the object when known."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        document: dict[str, Any] = {
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
        }
        document.update(_object_fields(record))
        if record.exc_info:
            document["exception"] = redact_text(self.formatException(record.exc_info))
        elif record.exc_text:
            document["exception"] = redact_text(record.exc_text)
        if record.stack_info:
            document["stack"] = redact_text(self.formatStack(record.stack_info))
        return json.dumps(document, ensure_ascii=False, default=str)


class _OperatorHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Ours, so that configuring again replaces it instead of adding a second one."""


# --- levels and configuration ---------------------------------------------------------------


def parse_level(text: str) -> int:
    value = text.strip().upper()
    if value.isdigit():
        return int(value)
    level = logging.getLevelNamesMapping().get(value)
    if level is None:
        raise LogConfigError(
            f"unknown log level {text!r}; use DEBUG, INFO, WARNING, ERROR or CRITICAL"
        )
    return level


def parse_module_levels(items: Iterable[str]) -> dict[str, int]:
    """``["orchestration_engine.store=DEBUG", "kopf=WARNING,aiohttp=ERROR"]`` as a mapping."""
    levels: dict[str, int] = {}
    for item in items:
        for part in item.split(","):
            if not part.strip():
                continue
            module, separator, level = part.partition("=")
            if not separator or not module.strip():
                raise LogConfigError(f"expected MODULE=LEVEL, got {part.strip()!r}")
            levels[module.strip()] = parse_level(level)
    return levels


@dataclass(frozen=True)
class LogSettings:
    format: LogFormat = LogFormat.TEXT
    level: int = logging.INFO
    modules: Mapping[str, int] | None = None


def resolve_log_settings(
    format: str | None,
    level: str | None,
    modules: Iterable[str] | None,
    env: Mapping[str, str] | None = None,
) -> LogSettings:
    """Flags first, then ``LOG_FORMAT``, ``LOG_LEVEL`` and ``LOG_LEVELS`` from the environment.

    Module levels add up: the environment's first, then the flags' (a flag wins for the same
    module).
    """
    env = os.environ if env is None else env
    chosen_format = format or env.get("LOG_FORMAT") or LogFormat.TEXT.value
    try:
        log_format = LogFormat(chosen_format.strip().lower())
    except ValueError:
        raise LogConfigError(f"unknown log format {chosen_format!r}; use text or json") from None
    chosen_level = level or env.get("LOG_LEVEL") or "INFO"
    module_levels = parse_module_levels([env.get("LOG_LEVELS", "")])
    module_levels.update(parse_module_levels(modules or []))
    return LogSettings(log_format, parse_level(chosen_level), module_levels)


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    logging.getLogger("orchestration_engine").critical(
        "uncaught exception", exc_info=(kind, value, tb)
    )


def configure(settings: LogSettings, stream: Any = None) -> None:
    """Send every logger's records through one handler in ``settings.format``."""
    handler = _OperatorHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.format is LogFormat.JSON else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _OperatorHandler)]
    root.addHandler(handler)
    root.setLevel(settings.level)
    for module, level in (settings.modules or {}).items():
        logging.getLogger(module).setLevel(level)
    if settings.format is LogFormat.JSON:
        # Warnings and uncaught exceptions would otherwise be bare text on stderr.
        logging.captureWarnings(True)
        sys.excepthook = _log_uncaught
