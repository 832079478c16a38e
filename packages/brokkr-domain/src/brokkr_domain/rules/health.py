"""Deployment health: the broker's roll-up of agent reports and the agent's classification of pods.

Two orders of badness are used on purpose:

- Rolling up *agents' reports* (broker): failing > degraded > healthy > unknown. An agent that cannot tell
  (no pods found, API error) must not hide what the other agents saw.
- Rolling up *pods* (agent): failing > degraded > unknown > healthy. A pod in phase Unknown (its node
  stopped reporting) means we cannot claim that the deployment is healthy.

Pods are classified from the manifests the Kubernetes API returns. Both key styles are read: the API's
camelCase (``containerStatuses``) and the snake_case of the Python client's ``to_dict()``
(``container_statuses``), so the result does not depend on how an adapter serialised the object.
Unlike v0.4.0 the classification does not depend on the order of the pods: the worst pod wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

import attrs

from brokkr_domain.model import DeploymentHealth, HealthStatus, HealthSummary, ResourceHealth

DEGRADED_WAITING_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "InvalidImageName",
        "RunContainerError",
        "ContainerCannotRun",
    }
)
DEGRADED_TERMINATED_REASONS = frozenset({"OOMKilled", "Error", "ContainerCannotRun"})
POD_FAILED = "PodFailed"

_AGENT_RANK = {
    HealthStatus.UNKNOWN: 0,
    HealthStatus.HEALTHY: 1,
    HealthStatus.DEGRADED: 2,
    HealthStatus.FAILING: 3,
}
_POD_RANK = {
    HealthStatus.HEALTHY: 0,
    HealthStatus.UNKNOWN: 1,
    HealthStatus.DEGRADED: 2,
    HealthStatus.FAILING: 3,
}


def worst_status(statuses: Iterable[HealthStatus | str]) -> HealthStatus:
    """The worst of agents' reports: failing > degraded > healthy > unknown; nothing reported is unknown."""
    return max((HealthStatus(s) for s in statuses), key=_AGENT_RANK.__getitem__, default=HealthStatus.UNKNOWN)


@attrs.frozen(kw_only=True)
class ObjectHealth:
    """One deployment object's line in a stack's health (field names as on the wire)."""

    id: UUID
    status: HealthStatus
    healthy_agents: int = 0
    degraded_agents: int = 0
    failing_agents: int = 0


@attrs.frozen(kw_only=True)
class StackHealth:
    overall_status: HealthStatus
    deployment_objects: tuple[ObjectHealth, ...] = ()


def object_health(object_id: UUID, health_rows: Iterable[DeploymentHealth]) -> ObjectHealth:
    """Count the agents' reports about one object (rows about other objects are ignored)."""
    statuses = [row.status for row in health_rows if row.deployment_object_id == object_id]
    return ObjectHealth(
        id=object_id,
        status=worst_status(statuses),
        healthy_agents=statuses.count(HealthStatus.HEALTHY),
        degraded_agents=statuses.count(HealthStatus.DEGRADED),
        failing_agents=statuses.count(HealthStatus.FAILING),
    )


def stack_rollup(objects: Iterable[UUID], health_rows: Iterable[DeploymentHealth]) -> StackHealth:
    """Per live object (in the given order) its worst report and counts, and the worst of them overall.

    Only the objects passed in count, so rows of soft-deleted objects cannot colour the stack.
    """
    rows = list(health_rows)
    lines = tuple(object_health(object_id, rows) for object_id in objects)
    return StackHealth(overall_status=worst_status(line.status for line in lines), deployment_objects=lines)


# --------------------------------------------------------------------------------------------- pods

_CAMEL_HUMP = re.compile(r"(?<!^)(?=[A-Z])")


def _get(obj: Mapping[str, Any], key: str) -> Any:
    """``obj[key]`` in camelCase, else in snake_case."""
    value = obj.get(key)
    if value is None:
        value = obj.get(_CAMEL_HUMP.sub("_", key).lower())
    return value


def _map(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = _get(obj, key)
    return value if isinstance(value, Mapping) else {}


def _list(obj: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = _get(obj, key)
    if not isinstance(value, list | tuple):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@attrs.frozen(kw_only=True)
class PodAssessment:
    """What one pod says about its deployment: a status, whether it is ready, what is wrong."""

    status: HealthStatus
    ready: bool
    conditions: frozenset[str] = frozenset()
    resource: ResourceHealth | None = None  # present for every pod that is not ready or has a problem


def _container_problems(status: Mapping[str, Any]) -> tuple[set[str], list[str]]:
    """Conditions and messages from the containers' current and last states and the init containers'."""
    conditions: set[str] = set()
    messages: list[str] = []
    for container in _list(status, "containerStatuses"):
        name = _text(container.get("name")) or "?"
        state = _map(container, "state")
        for part, reasons in (
            ("waiting", DEGRADED_WAITING_REASONS),
            ("terminated", DEGRADED_TERMINATED_REASONS),
        ):
            detail = _map(state, part)
            reason = _text(detail.get("reason"))
            if reason in reasons:
                conditions.add(reason)
                message = _text(detail.get("message"))
                messages.append(f"container {name} {part}: {reason}" + (f": {message}" if message else ""))
        last = _map(_map(container, "lastState"), "terminated")
        if _text(last.get("reason")) == "OOMKilled":
            conditions.add("OOMKilled")
            messages.append(f"container {name} was OOMKilled before its last restart")
    for container in _list(status, "initContainerStatuses"):
        waiting = _map(_map(container, "state"), "waiting")
        reason = _text(waiting.get("reason"))
        if reason in DEGRADED_WAITING_REASONS:
            conditions.add(f"InitContainer:{reason}")
            name = _text(container.get("name")) or "?"
            messages.append(f"init container {name} waiting: {reason}")
    return conditions, messages


def _is_ready(status: Mapping[str, Any]) -> bool:
    """Condition Ready=True; a Succeeded pod (a finished Job's) has done its work and counts as ready."""
    if status.get("phase") == "Succeeded":
        return True
    return any(
        cond.get("type") == "Ready" and str(cond.get("status")) == "True"
        for cond in _list(status, "conditions")
    )


def assess_pod(pod: Mapping[str, Any]) -> PodAssessment:
    """Classify one pod: Failed ⇒ failing; a known bad container state ⇒ degraded; phase Unknown ⇒ unknown;
    ready ⇒ healthy; otherwise (Pending, starting, failing probes) ⇒ degraded."""
    metadata = _map(pod, "metadata")
    status = _map(pod, "status")
    phase = _text(status.get("phase"))
    ready = _is_ready(status)
    conditions, messages = _container_problems(status)
    if phase == "Failed":
        conditions.add(POD_FAILED)
        cause = ": ".join(t for t in (_text(status.get("reason")), _text(status.get("message"))) if t)
        messages.insert(0, "pod failed" + (f": {cause}" if cause else ""))
        verdict = HealthStatus.FAILING
    elif conditions:
        verdict = HealthStatus.DEGRADED
    elif phase == "Unknown":
        verdict = HealthStatus.UNKNOWN
        messages.append("pod phase is Unknown (its node does not report)")
    elif ready:
        verdict = HealthStatus.HEALTHY
    else:
        verdict = HealthStatus.DEGRADED
        messages.append(f"pod is not ready (phase {phase or 'unset'})")
    resource = None
    if messages:
        resource = ResourceHealth(
            kind="Pod",
            name=_text(metadata.get("name")) or "",
            namespace=_text(metadata.get("namespace")) or "default",
            ready=ready,
            message="; ".join(messages),
        )
    return PodAssessment(status=verdict, ready=ready, conditions=frozenset(conditions), resource=resource)


def classify_pods(pods: Sequence[Mapping[str, Any]]) -> tuple[HealthStatus, HealthSummary]:
    """The health of a deployment object from its pods, and the summary reported to the broker.

    Zero pods ⇒ unknown. Otherwise the worst pod wins (failing > degraded > unknown > healthy), so the
    result is the same in any order; the summary's conditions and resources are sorted for the same reason.
    """
    if not pods:
        return HealthStatus.UNKNOWN, HealthSummary()
    assessments = [assess_pod(pod) for pod in pods]
    verdict = max((a.status for a in assessments), key=_POD_RANK.__getitem__)
    resources = sorted(
        (a.resource for a in assessments if a.resource is not None),
        key=lambda r: (r.namespace, r.name, r.message or "", r.ready, r.kind),
    )
    summary = HealthSummary(
        pods_ready=sum(a.ready for a in assessments),
        pods_total=len(assessments),
        conditions=tuple(sorted(frozenset().union(*(a.conditions for a in assessments)))),
        resources=tuple(resources),
    )
    return verdict, summary


# ---------------------------------------------------------------------------------- pod selection

_SELECTOR_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"})
_JOB_LABEL_KEYS = (
    "batch.kubernetes.io/controller-uid",
    "controller-uid",
    "batch.kubernetes.io/job-name",
    "job-name",
)


@attrs.frozen(kw_only=True)
class PodSelector:
    """How to find a workload's pods: by labels, or (for a bare Pod) by name, in ``namespace``.

    ``namespace`` None means the manifest did not say (the pods live where the object was applied).
    """

    namespace: str | None = None
    match_labels: dict[str, str] = attrs.field(factory=dict)
    pod_name: str | None = None

    def matches(self, pod: Mapping[str, Any]) -> bool:
        """Whether a pod manifest is selected (for in-memory clusters and tests)."""
        metadata = _map(pod, "metadata")
        if self.namespace is not None and metadata.get("namespace", "default") != self.namespace:
            return False
        if self.pod_name is not None:
            return metadata.get("name") == self.pod_name
        labels = _map(metadata, "labels")
        return all(labels.get(key) == value for key, value in self.match_labels.items())


def _string_map(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def workload_pod_selector(manifest: Mapping[str, Any]) -> PodSelector | None:
    """The selector of the pods a workload runs, from its own spec (contract decision 7).

    The agent must not add labels to pod templates to find pods again: changing a template rolls every pod.
    Deployments, StatefulSets, DaemonSets and ReplicaSets select with ``spec.selector.matchLabels``
    (``matchExpressions`` are not followed, so such a selector may match more); a ReplicationController
    with ``spec.selector``; a Job with its selector, or else the labels the Job controller puts on its pods
    (controller uid or job name). A bare Pod is found by name. Anything else runs no pods of its own: None.
    """
    kind = manifest.get("kind")
    metadata = _map(manifest, "metadata")
    spec = _map(manifest, "spec")
    namespace = _text(metadata.get("namespace"))
    name = _text(metadata.get("name"))
    labels: dict[str, str] = {}
    if kind in _SELECTOR_KINDS or kind == "Job":
        labels = _string_map(_get(_map(spec, "selector"), "matchLabels"))
    elif kind == "ReplicationController":
        labels = _string_map(spec.get("selector"))
    elif kind == "Pod":
        return PodSelector(namespace=namespace, pod_name=name) if name else None
    if kind == "Job" and not labels:
        template_labels = _string_map(_map(_map(spec, "template"), "metadata").get("labels"))
        found = next((key for key in _JOB_LABEL_KEYS if key in template_labels), None)
        if found is not None:
            labels = {found: template_labels[found]}
        elif name:
            labels = {"batch.kubernetes.io/job-name": name}
    return PodSelector(namespace=namespace, match_labels=labels) if labels else None


__all__ = [
    "DEGRADED_TERMINATED_REASONS",
    "DEGRADED_WAITING_REASONS",
    "POD_FAILED",
    "ObjectHealth",
    "PodAssessment",
    "PodSelector",
    "StackHealth",
    "assess_pod",
    "classify_pods",
    "object_health",
    "stack_rollup",
    "worst_status",
    "workload_pod_selector",
]
