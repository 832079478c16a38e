"""Where the agent's API server and credentials come from: a kubeconfig, or the pod's service account.

An agent normally runs in the cluster it manages, so with no path given the in-cluster configuration
(service-account token, CA, ``KUBERNETES_SERVICE_HOST``) is tried first and the default kubeconfig
(``$KUBECONFIG`` or ``~/.kube/config``, read when called, not when imported) second. Each result is a private
``Configuration`` object: nothing is installed as the client library's process-wide default, so two
clusters in one process never see each other's settings. The kubeconfig file is never written back.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from kubernetes import client
from kubernetes.config import incluster_config, kube_config
from kubernetes.config.config_exception import ConfigException

from brokkr_domain.errors import ValidationError

DEFAULT_KUBECONFIG = "~/.kube/config"

# The loaders are untyped; these aliases give them the signatures used here.
_load_kube_config: Callable[..., None] = kube_config.load_kube_config
_load_incluster_config: Callable[..., None] = incluster_config.load_incluster_config


def default_kubeconfig_paths() -> list[Path]:
    """``$KUBECONFIG`` (a path list) or ``~/.kube/config``, as kubectl looks them up."""
    value = os.environ.get("KUBECONFIG", "")
    paths = [part for part in value.split(os.pathsep) if part] or [DEFAULT_KUBECONFIG]
    return [Path(part).expanduser() for part in paths]


def from_kubeconfig_file(path: str | os.PathLike[str], context: str | None = None) -> client.Configuration:
    """A configuration from one kubeconfig file (or an ``os.pathsep``-separated list, merged)."""
    configuration = client.Configuration()
    try:
        _load_kube_config(
            config_file=os.fspath(path),
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
        raise ValidationError(
            f"cannot use kubeconfig {os.fspath(path)}: {exc}", code="kubernetes_config"
        ) from None
    return configuration


def in_cluster() -> client.Configuration:
    """The pod's service-account configuration; ``ConfigException`` outside a cluster."""
    configuration = client.Configuration()
    _load_incluster_config(client_configuration=configuration)
    return configuration


def discover(path: str | os.PathLike[str] | None, context: str | None = None) -> client.Configuration:
    """``path`` if given; else in-cluster, else the default kubeconfig; a clear error if neither works."""
    if path is not None:
        return from_kubeconfig_file(path, context)
    try:
        return in_cluster()
    except ConfigException as exc:
        in_cluster_problem = str(exc)
    candidates = default_kubeconfig_paths()
    existing = [p for p in candidates if p.is_file()]
    if existing:
        return from_kubeconfig_file(os.pathsep.join(str(p) for p in existing), context)
    looked = ", ".join(str(p) for p in candidates)
    raise ValidationError(
        "no Kubernetes configuration found: not running in a cluster "
        f"({in_cluster_problem}) and no kubeconfig at {looked}; set the kubeconfig path or KUBECONFIG",
        code="kubernetes_config",
    )


__all__ = ["default_kubeconfig_paths", "discover", "from_kubeconfig_file", "in_cluster"]
