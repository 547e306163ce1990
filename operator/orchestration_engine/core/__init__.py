"""Pure decisions over plain data: no I/O, no kopf, no Kubernetes client.

Everything here is a function from state to state, so it is tested exhaustively without a
cluster. Only ``orchestration_engine.api`` may be imported from here.
"""
