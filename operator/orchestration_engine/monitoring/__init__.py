"""Keeping OrchestratedServices' health current: probes in, status and Events out."""
