"""A real single-node Kubernetes cluster inside a network namespace (the e2e tier, `make demo`)."""
