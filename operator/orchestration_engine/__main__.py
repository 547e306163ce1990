"""``python -m orchestration_engine`` is the ``orchestration-engine`` command."""

from orchestration_engine.cli.main import main

main()
