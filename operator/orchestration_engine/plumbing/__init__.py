"""What every layer may use and that knows nothing of the others: Prometheus metrics, supervised
loops and periodic tasks, components' lifecycle, logging and JSON nesting limits. It imports
only ``api`` and ``core``.
"""
