"""The store's Prometheus metrics, so an outage of the database shows on a dashboard and in
alerts before anyone misses a row.

Defined once per process (prometheus-client registers names globally); every writer in the
process reports into them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

WRITE_ERRORS = Counter(
    "eoe_store_write_errors",
    "Failed attempts to write a batch to the metrics store, and rows the database rejected",
)
BUFFERED_ROWS = Gauge(
    "eoe_store_buffered_rows",
    "Rows submitted to the metrics store and not yet committed (in memory and in the spill file)",
)
ROWS_SUBMITTED = Counter(
    "eoe_store_rows_submitted",
    "Rows this process handed to the metrics store's writer; with nothing buffered, all of "
    "them are in the database",
    ["table"],
)
ROWS_WRITTEN = Counter(
    "eoe_store_rows_written",
    "Rows committed to the metrics store (replays the database already had count too)",
    ["table"],
)
STORE_SIZE = Gauge(
    "eoe_store_size_bytes",
    "Bytes the metrics store's rows take, the figure its size budget counts (SQLite: pages in "
    "use; PostgreSQL: the database's size, or its rows' estimate once over the budget)",
)
STORE_DISK_BYTES = Gauge(
    "eoe_store_disk_bytes",
    "Bytes the metrics store takes on disk (SQLite: the file and its WAL; PostgreSQL: "
    "pg_database_size); deleted rows' space is reused, not returned",
)
STORE_MAX_BYTES = Gauge(
    "eoe_store_max_bytes",
    "The metrics store's size budget (--store-max-size); 0 when it has none",
)
SIZE_CUT_ROWS = Counter(
    "eoe_store_size_cut_rows",
    "Rows retention by size removed (raw checks: rolled up first) because the store was over "
    "its budget",
    ["table"],
)
RETENTION_ERRORS = Counter(
    "eoe_store_retention_errors",
    "Failed retention runs (by age or by size) on the metrics store; each is retried",
)
