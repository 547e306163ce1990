"""Workflow step actions: the I/O half of a step (the decisions are in core/)."""
