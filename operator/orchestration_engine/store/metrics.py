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
