"""What every command shares: its consoles and output formats."""

from __future__ import annotations

from enum import StrEnum

from rich.console import Console

out = Console()
err = Console(stderr=True)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
