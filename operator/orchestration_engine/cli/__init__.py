"""The ``orchestration-engine`` command line: ``main`` (the typer application and the ``run``
command), one module per command or command group (``apply``, ``backup``, ``halt``, the
``report``'s sources and view, ``watch``, ``wait``) and the ``kubectl eoe`` plugin. The
operator (``app/``, ``controllers/``) never imports this package.
"""
