"""The operator process: start-up and wiring, kopf's handlers and settings, leader election,
run-time settings, authentication, the admission webhook's server.

``runtime.operate`` has ``components.build`` construct every component in dependency order
into one typed ``Components``, primes the caches, starts them on one ``AsyncExitStack``
(``components.start``; stopped in reverse order) and runs kopf with the handlers
(``handlers/``), which receive the ``Components`` as their ``memo``. Nothing below this
package imports it.
"""
