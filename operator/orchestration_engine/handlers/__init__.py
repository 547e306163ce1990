"""kopf wiring only: read the object, call the core, write the status through kube/."""
