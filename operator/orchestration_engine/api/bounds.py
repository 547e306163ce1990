"""The largest values the schema accepts, and the checks that enforce them in both places.

Every number, quantity, list and string of a spec has a maximum the API server checks
(OpenAPI ``maximum``/``maxItems``/``maxLength``, CEL for quantities), so what it stores is
something the operator can compute with: a ``deadlineSeconds`` of 2^63 - 1 overflowed
``datetime``, a ``cpu`` of ``9e9999999999`` overflowed ``Decimal``. The models check the same
bounds again, so ``plan``, the webhook and the operator refuse what an older CRD let through
(docs/decisions.md, "Bounds on what a spec may say").

The quantity check uses api/quantity.py, a leaf module with no imports from the project.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from orchestration_engine.api.quantity import parse_quantity

# A year: longer than any deadline or duration an operational workflow means, and far inside
# what datetime and timedelta hold.
MAX_SECONDS = 365 * 24 * 3600
# An hour, for latencies in milliseconds (targets, warnings, the SLA's).
MAX_LATENCY_MS = 3_600_000.0
# A million cores and an exbibyte: more than any cluster, and exact in a Decimal.
MAX_CPU = "1M"
MAX_MEMORY = "1Ei"
# Lists and maps a user writes by hand.
MAX_HEADERS = 64
MAX_HEADER_VALUE_LENGTH = 8192
MAX_SERVICES = 64
MAX_EXPECTED_STATUS = 32
# A quantity's exponent of three digits or more: never under the bounds, and too costly for
# the API server to read.
LONG_EXPONENT = "[eE][-+]?[0-9]{3,}$"


def quantity_at_most(maximum: str, what: str) -> Callable[[str], str]:
    """A pydantic after-validator: the quantity parses and is at most ``maximum``."""
    limit = parse_quantity(maximum)

    def check(value: str) -> str:
        amount: Decimal = parse_quantity(value)  # ValueError: not a quantity, or too large
        if amount > limit:
            raise ValueError(f"{what} {value} is more than {maximum}, the most it may be")
        return value

    return check


def quantity_schema(pattern: str, maximum: str, what: str) -> dict[str, Any]:
    """The CRD schema of a bounded quantity: int-or-string, the grammar, and two CEL rules.

    ``string(self)`` reads an integer (``cpu: 2``) as the quantity it stands for. The API
    server runs CEL even where the pattern failed, and its ``isQuantity`` on an exponent of
    many digits (``9e9999999999``) runs past the request timeout, so both rules look at the
    exponent's length first (``readable``). The first rule refuses text that Kubernetes cannot
    read; the second applies the maximum.
    """
    readable = f"!string(self).matches('{LONG_EXPONENT}') && isQuantity(string(self))"
    return {
        "x-kubernetes-int-or-string": True,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": pattern,
        "maxLength": 64,
        "x-kubernetes-validations": [
            {
                "rule": readable,
                "message": f"{what} is not a Kubernetes quantity",
                "messageExpression": f"'{what} ' + string(self) + ' is not a Kubernetes quantity'",
            },
            {
                "rule": (
                    f"!({readable}) || quantity(string(self)).compareTo(quantity('{maximum}')) <= 0"
                ),
                "message": f"{what} must be at most {maximum}",
                "messageExpression": (
                    f"'{what} ' + string(self) + ' is more than {maximum}, the most it may be'"
                ),
            },
        ],
    }
