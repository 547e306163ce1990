"""The reconcilers: what the operator keeps current, from watch events and timers.

- ``services/``: OrchestratedServices' health (the monitor and its checks), failover,
  scaling, the workloads' cache, the store's mirror of checks;
- ``engine/``: the OrchestrationEngine ``default``: its status (the keeper), the emergency
  halt's response and notification, the resource optimiser, the watch canary;
- ``workflows/``: OrchestrationWorkflows: admission, the runner of steps, retention.

Controllers ask ``core/`` what to do and do it through the adapters (``kube/``,
``probes/``, ``store/``, ``actions/``).
"""
