"""Kubernetes resource quantities (``500m``, ``2``, ``1.5Gi``, ``1e3``) as exact numbers."""

from __future__ import annotations

import re
from decimal import Decimal, DecimalException, InvalidOperation

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$")


def parse_quantity(value: str | int | float) -> Decimal:
    """Raises ValueError, and only ValueError, for text that is not a quantity or is beyond
    what a Decimal holds (``9e9999999999``: its product overflows)."""
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(value.strip())
    # The grammar's suffix is an SI suffix or an exponent, never both (``2e3Ki`` is invalid).
    if match is None or (match.group(2) and "e" in match.group(1).lower()):
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a Kubernetes quantity") from None
    try:
        amount = number * _SUFFIXES[match.group(2)]
    except DecimalException:
        raise ValueError(f"{value!r} is too large a quantity") from None
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not a finite quantity")
    return amount


def format_quantity(value: Decimal, *, binary: bool = False) -> str:
    """A short human form: ``1.5`` CPUs, ``512Mi`` of memory."""
    if binary:
        for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
            unit = _SUFFIXES[suffix]
            if abs(value) >= unit:
                return f"{_short(value / unit)}{suffix}"
        return f"{value.normalize():f}"
    if value != value.to_integral_value() and abs(value) < 1:
        return f"{_short(value * 1000)}m"
    return _short(value)


def _short(value: Decimal) -> str:
    """At most two decimals: a message shows an amount, not an exact figure."""
    return f"{value.quantize(Decimal('0.01')).normalize():f}"
