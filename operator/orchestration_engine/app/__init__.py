"""The operator process: start-up and wiring, kopf's handlers and settings, leader election,
run-time settings, authentication, the admission webhook's server.

``runtime.operate`` builds every component in dependency order, starts them, registers the
kopf handlers (``handlers/``) and runs kopf. Nothing below this package imports it.
"""
