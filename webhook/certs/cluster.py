"""Reaching the API server from ``egressguard certs`` (kubeconfig or in-cluster).

The kubernetes client is large and slow to import, so it is loaded only when a command
actually talks to a cluster.
"""

from __future__ import annotations

import importlib
from typing import Any


def kubernetes() -> Any:
    return importlib.import_module("kubernetes")


def api_client(kubeconfig: str | None) -> Any:
    """A client for ``kubeconfig``; without one, the in-cluster service account, then the
    default kubeconfig."""
    k8s = kubernetes()
    if kubeconfig:
        return k8s.config.new_client_from_config(config_file=kubeconfig)
    configuration = k8s.client.Configuration()
    try:
        k8s.config.load_incluster_config(client_configuration=configuration)
    except k8s.config.ConfigException:
        return k8s.config.new_client_from_config()
    return k8s.client.ApiClient(configuration)
