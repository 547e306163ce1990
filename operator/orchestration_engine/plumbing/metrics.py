"""Prometheus metrics, all prefixed ``eoe_`` (API.md). Labels stay bounded: per-service
series carry namespace and name (one series per object users created), never URLs, error
texts or other free values."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram

from orchestration_engine.api.service import Health

# Fine buckets at the low end: a local probe answers in well under 10 ms.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
)

SERVICE_HEALTH = Gauge(
    "eoe_service_health",
    "1, labelled with the health each OrchestratedService is in and its priority "
    "(one series per service)",
    ["namespace", "service", "health", "priority"],
)
CHECK_LATENCY = Histogram(
    "eoe_health_check_latency_seconds",
    "Latency of passing health checks as the operator measured it",
    ["check"],
    buckets=LATENCY_BUCKETS,
)
CHECKS = Counter("eoe_health_checks_total", "Health checks run", ["check", "result"])
STATUS_WRITES = Counter(
    "eoe_status_writes_total", "Status patches sent to the API server", ["kind"]
)
STATUS_WRITE_ERRORS = Counter(
    "eoe_status_write_errors_total", "Status patches that failed", ["kind"]
)
# The operator's own API client (kube/transport.py); reason: an HTTP status or what the
# connection did (not-sent, lost, timeout).
API_RETRIES = Counter(
    "eoe_api_request_retries_total",
    "API requests sent again after a transient failure",
    ["reason"],
)
API_TRANSPORT_ERRORS = Counter(
    "eoe_api_transport_errors_total",
    "API requests that got no answer (refused, reset, closed, timed out), retries spent",
    ["reason"],
)
API_THROTTLED_SECONDS = Counter(
    "eoe_api_throttled_seconds_total",
    "Seconds API requests waited for the client-side rate limit (QPS and burst)",
)
# Long-lived loops under supervision (plumbing/supervision.py).
LOOP_RESTARTS = Counter(
    "eoe_loop_restarts_total",
    "Long-lived loops restarted after they raised",
    ["loop"],
)
LOOPS_FAILING = Gauge(
    "eoe_loops_failing",
    "Long-lived loops that keep failing (liveness answers 500 while this is above 0)",
)

WORKFLOW_SCHEDULING_LATENCY = Histogram(
    "eoe_workflow_scheduling_latency_seconds",
    "From a workflow's creation to its admission by the scheduler",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600),
)
WORKFLOW_DURATION = Histogram(
    "eoe_workflow_duration_seconds",
    "From admission to the end, by the phase a workflow ended in",
    ["phase"],
    buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
)
EMERGENCY_HALT = Gauge(
    "eoe_emergency_halt",
    "1 while an emergency halt is in force, labelled with its reason; 0 with reason none",
    ["reason"],
)
RELIST_DELETIONS = Counter(
    "eoe_relist_deletions_total",
    "Deletions a watch never reported, found by a fresh LIST (app/handlers/relist.py)",
    ["plural"],
)
RELIST_ERRORS = Counter(
    "eoe_relist_errors_total", "LISTs to find missed deletions that failed", ["plural"]
)
WORKFLOWS = Gauge("eoe_workflows", "OrchestrationWorkflows by phase", ["phase"])
WORKFLOW_QUEUE_LENGTH = Gauge(
    "eoe_workflow_queue_length", "Workflows eligible to run that wait for a slot or capacity"
)
STEP_TRANSIENT_RETRIES = Counter(
    "eoe_step_transient_retries_total",
    "Requests of workflow steps (and traffic switches) tried again after a transient fault "
    "(429, 5xx, a dropped connection), by action",
    ["action"],
)
STEP_CLEANUPS = Counter(
    "eoe_step_cleanups_total",
    "Attempts of workflow steps that ended without succeeding, by whether what they had "
    "started was stopped (result done) or could not be (failed)",
    ["action", "result"],
)

FAILOVERS = Counter(
    "eoe_failovers_total",
    "Traffic switches of OrchestratedServices: direction failover (to the standby) or failback",
    ["namespace", "service", "direction"],
)
FAILOVER_ERRORS = Counter(
    "eoe_failover_errors_total",
    "Failover or failback attempts that did not complete, by reason",
    ["reason"],
)
SCALING_ACTIONS = Counter(
    "eoe_scaling_actions_total",
    "Replica changes made by the autoscaler: direction up or down",
    ["namespace", "service", "direction"],
)
OPTIMIZATION_SCORE = Gauge(
    "eoe_optimization_score",
    "The latest plan's score, 0..100: its cost between the minimum-replicas plan and the bound",
)
OPTIMIZATION_RUNS = Counter(
    "eoe_optimization_runs_total",
    "Optimiser rounds by strategy and solver (greedy, anneal)",
    ["strategy", "solver"],
)
OPTIMIZATION_DURATION = Histogram(
    "eoe_optimization_duration_seconds",
    "Time to compute one plan",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
OPTIMIZATION_CHANGES = Gauge(
    "eoe_optimization_planned_changes",
    "Services whose planned replicas differ from their current ones in the latest plan",
)
ANOMALIES = Counter(
    "eoe_anomalies_detected_total",
    "AnomalyDetected raised on a service's latency or error series",
    ["namespace", "service"],
)
_PER_SERVICE_COUNTERS = (
    (FAILOVERS, ("failover", "failback")),
    (SCALING_ACTIONS, ("up", "down")),
)


# The health and priority each service's one series carries: a series per possible health
# would multiply the exposition (6 x services), and a scrape holds the interpreter while it
# renders. The priority rides on the same series (rather than an info metric joined in
# PromQL) so that alerts can page for CRITICAL services alone at no extra series.
_published: dict[tuple[str, str], tuple[Health, str]] = {}


def set_service_health(namespace: str, service: str, health: Health, priority: str) -> None:
    """One series per service, labelled with its current health and priority, value 1."""
    key = (namespace, service)
    previous = _published.get(key)
    if previous == (health, priority):
        return
    if previous is not None:
        with contextlib.suppress(KeyError):
            SERVICE_HEALTH.remove(namespace, service, previous[0].value, previous[1])
    SERVICE_HEALTH.labels(namespace, service, health.value, priority).set(1)
    _published[key] = (health, priority)


def forget_service(namespace: str, service: str) -> None:
    previous = _published.pop((namespace, service), None)
    if previous is not None:
        with contextlib.suppress(KeyError):
            SERVICE_HEALTH.remove(namespace, service, previous[0].value, previous[1])
    for counter, directions in _PER_SERVICE_COUNTERS:
        for direction in directions:
            with contextlib.suppress(KeyError):
                counter.remove(namespace, service, direction)
    with contextlib.suppress(KeyError):
        ANOMALIES.remove(namespace, service)


_halt_reason: list[str] = []


def set_emergency_halt(reason: str | None) -> None:
    """One series: the reason in force with 1, or ``none`` with 0 (dashboards and alerts
    always find the series)."""
    for old in _halt_reason:
        with contextlib.suppress(KeyError):
            EMERGENCY_HALT.remove(old)
    _halt_reason.clear()
    label = reason or "none"
    EMERGENCY_HALT.labels(label).set(1 if reason else 0)
    _halt_reason.append(label)


# Set by app/leadership.py (and by `run` without leader election, where the one instance leads).
LEADER = Gauge(
    "eoe_leader", "1 while this instance holds the leader-election Lease and acts; 0 on a standby"
)

ASYNCIO_TASKS = Gauge(
    "eoe_asyncio_tasks",
    "Tasks alive in the operator's event loop, sampled every 10 s: a count that keeps "
    "growing under a steady load is a leak",
)

# Set by controllers/services/prober_watch.py (core/prober_health.py decides).
PROBES_DEGRADED = Gauge(
    "eoe_probes_degraded",
    "1 while most network checks fail in ways that point at the operator's own network "
    "(DNS, no route, no connection): those checks are inconclusive, and no failover or "
    "emergency halt follows from them",
)
PROBER_REFERENCE_CHECKS = Counter(
    "eoe_prober_reference_checks_total",
    "Checks of the prober's reference target (the API server's address), by result "
    "(pass, fail, error: the check itself raised)",
    ["result"],
)
WORKFLOWS_COLLECTED = Counter(
    "eoe_workflows_collected_total",
    "Finished OrchestrationWorkflows deleted by the operator, by why: TTLExpired "
    "(ttlSecondsAfterFinished) or HistoryLimit (the engine's workflowRetention)",
    ["reason"],
)
WORKFLOW_COLLECTION_ERRORS = Counter(
    "eoe_workflow_collection_errors_total",
    "Deletions of finished workflows that failed (retried on the next pass) and collection "
    "passes that raised",
)
# One object's evaluation raised (a runner, a scheduling pass's reading of it, a service's
# check round): that object is set aside and retried with backoff, the others go on.
OBJECT_ERRORS = Counter(
    "eoe_object_errors_total",
    "Evaluations of one object that raised; the object was set aside, the others went on",
    ["kind", "where"],
)
