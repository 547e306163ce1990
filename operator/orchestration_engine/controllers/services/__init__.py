"""OrchestratedServices: health from checks and workloads, failover, scaling, and the store's
mirror of what was decided.
"""
