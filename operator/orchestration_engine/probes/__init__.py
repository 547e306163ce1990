"""HTTP and TCP health checks, and the scheduler that runs them on each service's period.

The probes only measure and describe; deciding what a result means for a service's health is
``orchestration_engine.core``'s job, and writing it down is ``kube``'s.
"""

from orchestration_engine.probes.http import HttpProber
from orchestration_engine.probes.result import CheckResult
from orchestration_engine.probes.scheduler import ProbeScheduler
from orchestration_engine.probes.tcp import check_tcp

__all__ = ["CheckResult", "HttpProber", "ProbeScheduler", "check_tcp"]
