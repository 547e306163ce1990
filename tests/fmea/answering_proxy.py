"""A proxy in front of the API server that answers chosen requests itself with an error (a
429 with ``Retry-After``, a 503) and records every request it passes on.

Built on the conflict proxy (fmea_inputs_support.ConflictProxy: plain HTTP on 127.0.0.1,
everything streamed through, watches included), which it extends with rules: each rule names
a method and a path pattern and the answers to give, in order, to the next requests that
match; when they are used up, matching requests pass through again. What is injected is
exactly what the API server itself sends when it is throttling or unavailable (a ``Status``
body and, for 429, ``Retry-After``), so the operator meets the fault as it would for real.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fmea_inputs_support import ConflictProxy

_REASONS = {
    429: "TooManyRequests",
    500: "InternalError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass(frozen=True)
class Fault:
    """One injected answer: a status, and the seconds of ``Retry-After`` to send, if any."""

    status: int
    retry_after: int | None = None


@dataclass
class Rule:
    method: str
    path: re.Pattern[str]
    answers: list[Fault]
    given: list[float] = field(default_factory=list)  # monotonic times of the answers given


@dataclass(frozen=True)
class Seen:
    """A request the proxy passed on to the API server, and what the server answered."""

    method: str
    path: str
    body: Any  # the decoded JSON body, or None
    status: int
    at: float  # monotonic, when the answer came back


def status_body(code: int, path: str) -> dict[str, Any]:
    reason = _REASONS.get(code, "InternalError")
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"injected by the test's proxy: {reason} on {path}",
        "reason": reason,
        "details": {"retryAfterSeconds": 1} if code == 429 else {},
        "code": code,
    }


class AnsweringProxy(ConflictProxy):
    def __init__(self, kubeconfig: Path) -> None:
        self._rules: list[Rule] = []
        self._rules_lock = threading.Lock()
        self.passed: list[Seen] = []
        super().__init__(kubeconfig, budgets={}, classify=lambda _method, _path: None)

    def fail(self, method: str, path: str, *answers: Fault) -> Rule:
        """Answer the next ``len(answers)`` requests of ``method`` whose path matches the
        regular expression ``path`` (whole path) with these faults, in order."""
        rule = Rule(method.upper(), re.compile(path), list(answers))
        with self._rules_lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._rules_lock:
            self._rules.clear()

    def requests(self, method: str, path: str) -> list[Seen]:
        """The requests passed on (not injected) of ``method`` whose path matches ``path``."""
        pattern = re.compile(path)
        with self._rules_lock:
            return [s for s in self.passed if s.method == method and pattern.fullmatch(s.path)]

    def _injected(self, method: str, path: str) -> Fault | None:
        with self._rules_lock:
            for rule in self._rules:
                if rule.method == method and rule.path.fullmatch(path) and rule.answers:
                    rule.given.append(time.monotonic())
                    return rule.answers.pop(0)
        return None

    async def _forward(self, request: Any) -> Any:
        from aiohttp import web

        fault = self._injected(request.method, request.path)
        if fault is not None:
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            return web.json_response(
                status_body(fault.status, request.path), status=fault.status, headers=headers
            )
        raw = await request.read()  # aiohttp keeps it: the conflict proxy reads it again
        response = await super()._forward(request)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._rules_lock:
            self.passed.append(
                Seen(request.method, request.path, body, response.status, time.monotonic())
            )
        return response
