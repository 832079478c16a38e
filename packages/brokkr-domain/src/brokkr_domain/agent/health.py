"""Deployment health as the agent sees it: the pods of each applied object's workloads, classified.

Pods are found through the workloads' own selectors (``rules.health.workload_pod_selector``), in the namespace
where each workload actually lives (contract decision 7). The agent never labels pod templates to find pods
again, since changing a template rolls every pod of the workload.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from uuid import UUID

from brokkr_domain.errors import BrokkrError
from brokkr_domain.manifests import ObjectRef
from brokkr_domain.model import HealthStatus
from brokkr_domain.ports.broker_gateway import BrokerGateway, HealthReport
from brokkr_domain.ports.cluster import Cluster, Manifest
from brokkr_domain.ports.system import Clock
from brokkr_domain.rules.health import classify_pods, workload_pod_selector

# Kinds whose pods ``workload_pod_selector`` can find; other kinds are not even fetched.
WORKLOAD_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "Pod"}
)
DEFAULT_BATCH_SIZE = 50


def _namespace_of(live: Mapping[str, object]) -> str:
    metadata = live.get("metadata")
    namespace = metadata.get("namespace") if isinstance(metadata, Mapping) else None
    return namespace if isinstance(namespace, str) and namespace else "default"


def _pod_key(pod: Mapping[str, object]) -> tuple[str, str]:
    metadata = pod.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return (_namespace_of(pod), name if isinstance(name, str) else "")


class PodFinder:
    """Finds the live workloads of a set of refs and their pods, listing each (namespace, selector) once.

    One finder serves one collection pass, so workloads sharing a selector cost one listing; it is not meant
    to be kept across passes (the cache would go stale).
    """

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._listings: dict[tuple[str, tuple[tuple[str, str], ...]], list[Manifest]] = {}

    def workloads(self, refs: Iterable[ObjectRef]) -> list[Manifest]:
        """The live objects of the refs that can run pods (missing ones are skipped)."""
        found: list[Manifest] = []
        for ref in refs:
            if ref.kind in WORKLOAD_KINDS:
                live = self._cluster.get(ref)
                if live is not None:
                    found.append(live)
        return found

    def pods(self, workloads: Iterable[Manifest]) -> list[Manifest]:
        """The pods of the given live workloads, each pod once, in a stable order."""
        pods: dict[tuple[str, str], Manifest] = {}
        for live in workloads:
            selector = workload_pod_selector(live)
            if selector is None:
                continue
            namespace = selector.namespace or _namespace_of(live)
            if selector.pod_name is not None:
                pod = self._cluster.get(ObjectRef("v1", "Pod", namespace, selector.pod_name))
                matched = [pod] if pod is not None else []
            else:
                key = (namespace, tuple(sorted(selector.match_labels.items())))
                if key not in self._listings:
                    self._listings[key] = self._cluster.list_pods(namespace, selector.match_labels)
                matched = self._listings[key]
            for pod in matched:
                pods.setdefault(_pod_key(pod), pod)
        return [pods[key] for key in sorted(pods)]


def check_object(
    finder: PodFinder, refs: Sequence[ObjectRef], *, object_id: UUID, now: datetime
) -> HealthReport:
    """Health of one deployment object; a cluster error makes it ``unknown`` without a summary."""
    try:
        pods = finder.pods(finder.workloads(refs))
    except BrokkrError:
        return HealthReport(
            deployment_object_id=object_id, status=HealthStatus.UNKNOWN, summary=None, checked_at=now
        )
    status, summary = classify_pods(pods)
    return HealthReport(deployment_object_id=object_id, status=status, summary=summary, checked_at=now)


def collect_health(
    cluster: Cluster, deployed: Mapping[UUID, Sequence[ObjectRef]], *, now: datetime
) -> list[HealthReport]:
    """One report per deployed object (as ``Reconciler.deployed()`` lists them), in a stable order."""
    finder = PodFinder(cluster)
    return [
        check_object(finder, deployed[object_id], object_id=object_id, now=now)
        for object_id in sorted(deployed)
    ]


def health_tick(
    gateway: BrokerGateway,
    cluster: Cluster,
    agent_id: UUID,
    deployed: Mapping[UUID, Sequence[ObjectRef]],
    *,
    clock: Clock,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> list[HealthReport]:
    """Collect and send the health of every deployed object, ``batch_size`` reports per request.

    Nothing is sent when nothing is deployed. Broker errors propagate: the caller's loop backs off.
    """
    reports = collect_health(cluster, deployed, now=clock.now())
    size = max(1, batch_size)
    for start in range(0, len(reports), size):
        gateway.report_health(agent_id, reports[start : start + size])
    return reports


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "WORKLOAD_KINDS",
    "PodFinder",
    "check_object",
    "collect_health",
    "health_tick",
]
