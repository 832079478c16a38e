"""The Brokkr agent's Kubernetes adapter: the domain's ``Cluster`` port over the official ``kubernetes`` client.

``KubernetesCluster.from_kubeconfig(path)`` (or ``None`` for in-cluster configuration) gives a ``Cluster``
that applies with server-side apply, discovers kinds with an in-memory cache, retries an overloaded API
server by ``RetryPolicy`` and reports every failure as a ``brokkr_domain`` error. ``brokkr_adapters_k8s.testing``
holds a fake API server for tests and demos.
"""

from brokkr_adapters_k8s.cluster import KubernetesCluster
from brokkr_adapters_k8s.retry import RetryPolicy

__all__ = ["KubernetesCluster", "RetryPolicy"]
