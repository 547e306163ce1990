"""One shared asynchronous API client, configured like kopf: in-cluster or from a kubeconfig,
every request through the transport's timeouts, retries and rate limits (kube/transport.py)."""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes_asyncio import client, config

from orchestration_engine.kube.transport import TransportSettings, install

# The connection every kube/ function takes: callers outside kube/ hold one and pass it on,
# never building the client library's typed APIs on it themselves.
ApiClient = client.ApiClient
# No configuration to connect with: no kubeconfig (or none usable), not in a cluster.
ConfigError = config.ConfigException

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


def in_cluster() -> bool:
    return "KUBERNETES_SERVICE_HOST" in os.environ and SERVICE_ACCOUNT_TOKEN.exists()


def kubeconfig_path() -> str:
    """Read KUBECONFIG now: the client library reads it once, when first imported."""
    path = (os.environ.get("KUBECONFIG") or "~/.kube/config").split(os.pathsep)[0]
    return os.path.expanduser(path)


def api_client(
    configuration: client.Configuration, transport: TransportSettings | None = None
) -> client.ApiClient:
    """A client for ``configuration`` whose every request goes through the transport."""
    api = client.ApiClient(configuration)
    install(api, transport or TransportSettings())
    return api


async def make_api_client(transport: TransportSettings | None = None) -> client.ApiClient:
    configuration = client.Configuration()
    if in_cluster():
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        await config.load_kube_config(
            config_file=kubeconfig_path(), client_configuration=configuration
        )
    return api_client(configuration, transport)
