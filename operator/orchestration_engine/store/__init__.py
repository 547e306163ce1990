"""The metrics store: the durable mirror of every decision the operator makes.

SQLite by default (one file, nothing to install), PostgreSQL by URL. Reconciliation hands rows
to a :class:`StoreWriter` and never waits for the database; :mod:`.migrate` keeps the schema
(:mod:`.tables`) current with Alembic.
"""

from __future__ import annotations

from . import tables
from .engine import create_engine
from .migrate import current_revision, head_revision, upgrade
from .rows import RowError
from .url import StoreConfigError, normalize, redact
from .writer import StoreWriter, default_spill_path

__all__ = [
    "RowError",
    "StoreConfigError",
    "StoreWriter",
    "create_engine",
    "current_revision",
    "default_spill_path",
    "head_revision",
    "normalize",
    "redact",
    "tables",
    "upgrade",
]
