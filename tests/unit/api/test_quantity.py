"""api.quantity: Kubernetes quantities as exact numbers, and back to a short human form."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration_engine.api.quantity import format_quantity, parse_quantity


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2", Decimal(2)),
        ("0", Decimal(0)),
        ("500m", Decimal("0.5")),
        ("1500m", Decimal("1.5")),
        ("250u", Decimal("0.00025")),
        ("5n", Decimal("5e-9")),
        ("1.5", Decimal("1.5")),
        (".5", Decimal("0.5")),
        ("5.", Decimal(5)),
        ("+3", Decimal(3)),
        ("-1", Decimal(-1)),
        ("1k", Decimal(1000)),
        ("1M", Decimal(10**6)),
        ("2G", Decimal(2 * 10**9)),
        ("1T", Decimal(10**12)),
        ("1P", Decimal(10**15)),
        ("1E", Decimal(10**18)),  # exa, not an exponent
        ("1Ki", Decimal(1024)),
        ("256Mi", Decimal(256 * 2**20)),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("1Ti", Decimal(2**40)),
        ("1Pi", Decimal(2**50)),
        ("1Ei", Decimal(2**60)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("5e-3", Decimal("0.005")),
        ("12e+2", Decimal(1200)),
        ("  64Mi  ", Decimal(64 * 2**20)),  # surrounding blanks are tolerated
    ],
)
def test_parses_text(text: str, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(2, Decimal(2)), (0, Decimal(0)), (0.5, Decimal("0.5")), (1.25, Decimal("1.25"))],
)
def test_parses_numbers(value: int | float, expected: Decimal) -> None:
    # YAML users write `cpu: 2`.
    assert parse_quantity(value) == expected


def test_float_parses_as_written_not_as_its_binary_value() -> None:
    assert parse_quantity(0.1) == Decimal("0.1")


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "abc",
        "Mi",
        "1 Gi",
        "1gi",
        "1KI",
        "1K",  # decimal kilo is a lower-case k
        "1mi",
        "1e",
        "1.2.3",
        ".",
        "1Gi2",
        "--1",
        "1,5",
        "0x10",
        "2e3Ki",  # an exponent and a suffix together
        "1e3m",
    ],
)
def test_rejects_what_is_not_a_quantity(text: str) -> None:
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse_quantity(text)


def test_parse_is_exact() -> None:
    assert parse_quantity("100m") * 3 == Decimal("0.3")
    assert parse_quantity("1Gi") == 1024 * parse_quantity("1Mi")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal(0), "0"),
        (Decimal(2), "2"),
        (Decimal(16), "16"),
        (Decimal(100), "100"),  # not 1E+2
        (Decimal(1000), "1000"),
        (Decimal("1.5"), "1.5"),
        (Decimal("2.50"), "2.5"),
        (Decimal("0.5"), "500m"),
        (Decimal("0.25"), "250m"),
        (Decimal("0.001"), "1m"),
        (Decimal("0.0005"), "0.5m"),
        (Decimal("-0.5"), "-500m"),
        (Decimal("1.000"), "1"),
    ],
)
def test_formats_cpu(value: Decimal, expected: str) -> None:
    assert format_quantity(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal(0), "0"),
        (Decimal(512), "512"),
        (Decimal(1000), "1000"),  # under 1Ki: plain bytes
        (Decimal(1023), "1023"),
        (Decimal(1024), "1Ki"),
        (Decimal(1536), "1.5Ki"),
        (Decimal(2**20), "1Mi"),
        (Decimal(256 * 2**20), "256Mi"),
        (Decimal(1023 * 2**20), "1023Mi"),
        (Decimal(2**30), "1Gi"),
        (Decimal(3 * 2**29), "1.5Gi"),
        (Decimal(64 * 2**30), "64Gi"),
        (Decimal(2**40), "1Ti"),
        (Decimal(2**50), "1Pi"),
        (Decimal(2**60), "1Ei"),
        (Decimal(2048 * 2**60), "2048Ei"),
        (Decimal(-(2**30)), "-1Gi"),
    ],
)
def test_formats_memory(value: Decimal, expected: str) -> None:
    assert format_quantity(value, binary=True) == expected


@pytest.mark.parametrize("text", ["500m", "2", "1.5", "250m", "16", "100", "0"])
def test_cpu_round_trips(text: str) -> None:
    assert format_quantity(parse_quantity(text)) == text


@pytest.mark.parametrize("text", ["1Ki", "512Mi", "1.5Gi", "64Gi", "3Ti", "100"])
def test_memory_round_trips(text: str) -> None:
    assert format_quantity(parse_quantity(text), binary=True) == text


@settings(max_examples=200)
@given(
    count=st.integers(min_value=0, max_value=10**6),
    unit=st.sampled_from(["", "Ki", "Mi", "Gi", "Ti"]),
)
def test_whole_binary_amounts_round_trip_to_two_decimals(count: int, unit: str) -> None:
    # Messages show amounts to two decimals of their unit: within 0.5 % of the input.
    amount = parse_quantity(f"{count}{unit}")
    shown = parse_quantity(format_quantity(amount, binary=True))
    assert abs(shown - amount) <= amount * Decimal("0.005")


@settings(max_examples=200)
@given(
    number=st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False),
    suffix=st.sampled_from(["", "m", "k", "M", "G", "Ki", "Mi", "Gi", "Ti"]),
)
def test_formatted_memory_is_a_quantity_close_to_the_amount(number: Decimal, suffix: str) -> None:
    # A human form, not an exact one: any amount prints as a valid quantity within rounding.
    amount = parse_quantity(f"{number}{suffix}")
    back = parse_quantity(format_quantity(amount, binary=True))
    # Two decimals of the unit shown (Ki at least): within 0.5 % or 0.01 of a unit.
    assert abs(back - amount) <= max(amount * Decimal("0.005"), Decimal("0.01"))


@settings(max_examples=200)
@given(st.decimals(min_value=-(10**6), max_value=10**6, places=9, allow_nan=False))
def test_formatted_cpu_parses_back_to_two_decimals(amount: Decimal) -> None:
    # Whole CPUs to two decimals, fractions of one to two decimals of a millicore.
    back = parse_quantity(format_quantity(amount))
    assert abs(back - amount) <= Decimal("0.005")
