"""kopf wiring only: each handler reads the event and hands it to a controller (``controllers/``).
No decision is taken here.
"""
