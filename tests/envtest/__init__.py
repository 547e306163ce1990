"""A real kube-apiserver and etcd on loopback, for tests and local manual use."""
