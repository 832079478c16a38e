"""On-demand diagnostics: a snapshot of one deployment object's pods, events and log tails.

Unlike v0.4.0 (which looked in ``default`` only, by a label nobody sets) the agent looks where the object's
resources live (contract decision 7): the pods of its workloads, found through their selectors, and the events
of those objects and pods in their namespaces. A failed collection still produces a report that says what
went wrong, so the admin waiting for an answer gets one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from brokkr_domain.agent._batch import describe
from brokkr_domain.agent.health import PodFinder
from brokkr_domain.errors import BrokkrError, ConflictError, ForbiddenError, NotFoundError, TransientError
from brokkr_domain.manifests import ObjectRef, is_cluster_scoped_kind_hint
from brokkr_domain.model import DiagnosticRequest
from brokkr_domain.ownership import DEPLOYMENT_OBJECT_ANNOTATION, MANAGED_SELECTOR, ref_of
from brokkr_domain.ports.broker_gateway import BrokerGateway, DiagnosticReport
from brokkr_domain.ports.cluster import Cluster, Manifest
from brokkr_domain.ports.system import Clock
from brokkr_domain.rules.diagnostics import MAX_RESULT_BYTES

DEFAULT_LOG_LINES = 100
MAX_EVENTS = 50
LOG_OMITTED = "Error: log tail omitted, the diagnostic result would exceed its size limit"

ObjectsOf = Callable[[UUID], Sequence[ObjectRef]]


def _get(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _map(obj: Mapping[str, Any], camel: str, snake: str | None = None) -> Mapping[str, Any]:
    value = _get(obj, camel, snake or camel)
    return value if isinstance(value, Mapping) else {}


def _items(obj: Mapping[str, Any], camel: str, snake: str | None = None) -> list[Mapping[str, Any]]:
    value = _get(obj, camel, snake or camel)
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _container_state(container: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    state = _map(container, "state")
    if "running" in state and state["running"] is not None:
        started = _get(_map(state, "running"), "startedAt", "started_at")
        return "Running", None, f"Started at {started}" if started else None
    for key, label in (("waiting", "Waiting"), ("terminated", "Terminated")):
        if key in state and state[key] is not None:
            detail = _map(state, key)
            return label, detail.get("reason"), detail.get("message")
    return "Unknown", None, None


def pod_status(pod: Mapping[str, Any]) -> dict[str, Any]:
    """One pod as the diagnostics JSON describes it (field names as in the reference)."""
    metadata, status = _map(pod, "metadata"), _map(pod, "status")
    containers = []
    for container in _items(status, "containerStatuses", "container_statuses"):
        state, reason, message = _container_state(container)
        containers.append(
            {
                "name": container.get("name"),
                "ready": bool(container.get("ready", False)),
                "restart_count": int(_get(container, "restartCount", "restart_count") or 0),
                "state": state,
                "state_reason": reason,
                "state_message": message,
            }
        )
    return {
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace") or "default",
        "phase": status.get("phase"),
        "conditions": [
            {
                "condition_type": cond.get("type"),
                "status": cond.get("status"),
                "reason": cond.get("reason"),
                "message": cond.get("message"),
            }
            for cond in _items(status, "conditions")
        ],
        "containers": containers,
    }


def _event_time(event: Mapping[str, Any]) -> str:
    for camel, snake in (("lastTimestamp", "last_timestamp"), ("eventTime", "event_time")):
        value = _get(event, camel, snake)
        if value:
            return str(value)
    first = _get(event, "firstTimestamp", "first_timestamp")
    return str(first or _map(event, "metadata").get("creationTimestamp") or "")


def event_entry(event: Mapping[str, Any]) -> dict[str, Any]:
    involved = _map(event, "involvedObject", "involved_object")
    return {
        "event_type": event.get("type"),
        "reason": event.get("reason"),
        "message": event.get("message"),
        "involved_object": involved.get("name"),
        "involved_kind": involved.get("kind"),
        "namespace": _map(event, "metadata").get("namespace"),
        "first_timestamp": _get(event, "firstTimestamp", "first_timestamp"),
        "last_timestamp": _event_time(event) or None,
        "count": event.get("count"),
    }


def _refs_by_annotation(cluster: Cluster, object_id: UUID) -> list[ObjectRef]:
    """Fallback after an agent restart: every managed object stamped with the deployment object's id."""
    refs = []
    for live in cluster.list_by_labels(MANAGED_SELECTOR):
        annotations = _map(_map(live, "metadata"), "annotations")
        ref = ref_of(live)
        if ref is not None and annotations.get(DEPLOYMENT_OBJECT_ANNOTATION) == str(object_id):
            refs.append(ref)
    return refs


def _namespaces(refs: Iterable[ObjectRef], lives: Iterable[Manifest]) -> set[str]:
    found = {ref.namespace for ref in refs if ref.namespace}
    if any(ref.namespace is None and not is_cluster_scoped_kind_hint(ref.kind) for ref in refs):
        found.add("default")
    found.update(
        str(_map(live, "metadata").get("namespace"))
        for live in lives
        if _map(live, "metadata").get("namespace")
    )
    return {ns for ns in found if ns}


def _related(event: Mapping[str, Any], names: set[str], prefixes: tuple[str, ...]) -> bool:
    """Events about our objects and pods, or about what their controllers made (``<deployment>-<hash>``)."""
    name = _map(event, "involvedObject", "involved_object").get("name")
    return isinstance(name, str) and (name in names or name.startswith(prefixes))


def _log_tails(cluster: Cluster, pods: Iterable[Manifest], lines: int) -> dict[str, str]:
    tails: dict[str, str] = {}
    for pod in pods:
        metadata = _map(pod, "metadata")
        name, namespace = str(metadata.get("name")), str(metadata.get("namespace") or "default")
        for container in _items(_map(pod, "spec"), "containers"):
            key = f"{name}/{container.get('name')}"
            try:
                tails[key] = cluster.pod_log_tail(namespace, name, str(container.get("name")), lines)
            except BrokkrError as exc:
                tails[key] = f"Error: {describe(exc)}"
    return tails


def _fit(pod_statuses: str, events: str, tails: dict[str, str]) -> str:
    """Log tails as JSON, dropping the longest ones until the whole result fits the broker's limit."""
    budget = MAX_RESULT_BYTES - len(pod_statuses.encode()) - len(events.encode())
    text = json.dumps(tails)
    while len(text.encode()) > budget and any(v != LOG_OMITTED for v in tails.values()):
        longest = max(tails, key=lambda k: len(tails[k]) if tails[k] != LOG_OMITTED else -1)
        tails[longest] = LOG_OMITTED
        text = json.dumps(tails)
    return text


def collect_diagnostics(
    cluster: Cluster,
    request: DiagnosticRequest,
    objects_of: ObjectsOf,
    *,
    now: datetime,
    log_lines: int = DEFAULT_LOG_LINES,
    max_events: int = MAX_EVENTS,
) -> DiagnosticReport:
    """Pod statuses, the newest ``max_events`` related events and each container's last ``log_lines`` lines.

    ``objects_of`` gives the refs of the deployment object (``Reconciler.objects_of``); when it knows none,
    the cluster is searched for objects carrying the deployment object's annotation.
    """
    try:
        refs = list(objects_of(request.deployment_object_id))
        if not refs:
            refs = _refs_by_annotation(cluster, request.deployment_object_id)
        finder = PodFinder(cluster)
        workloads = finder.workloads(refs)
        pods = finder.pods(workloads)
        names = {ref.name for ref in refs} | {str(_map(pod, "metadata").get("name")) for pod in pods}
        prefixes = tuple(f"{_map(w, 'metadata').get('name')!s}-" for w in workloads)
        events = [
            event
            for namespace in sorted(_namespaces(refs, [*workloads, *pods]))
            for event in cluster.list_events(namespace)
            if _related(event, names, prefixes)
        ]
        events.sort(key=_event_time, reverse=True)
        pod_json = json.dumps([pod_status(pod) for pod in pods])
        event_json = json.dumps([event_entry(event) for event in events[:max_events]])
        tails = _log_tails(cluster, pods, log_lines)
    except Exception as exc:  # odd data or an adapter bug: the waiting admin still gets an answer
        error = json.dumps([{"error": f"diagnostics collection failed: {describe(exc)}"}])
        return DiagnosticReport(pod_statuses="[]", events=error, log_tails=None, collected_at=now)
    return DiagnosticReport(
        pod_statuses=pod_json,
        events=event_json,
        log_tails=_fit(pod_json, event_json, tails),
        collected_at=now,
    )


def process_pending_diagnostics(
    gateway: BrokerGateway,
    cluster: Cluster,
    agent_id: UUID,
    objects_of: ObjectsOf,
    *,
    clock: Clock,
    log_lines: int = DEFAULT_LOG_LINES,
) -> list[UUID]:
    """Answer every pending request of this agent: claim, collect, submit; returns the answered ids.

    A request another agent process claimed first (409), or that vanished (404/403), is skipped; other
    per-request broker errors skip that request too. ``TransientError`` propagates: the broker is away and
    the caller's loop backs off.
    """
    answered: list[UUID] = []
    for request in gateway.pending_diagnostics(agent_id):
        try:
            claimed = gateway.claim_diagnostic(request.id)
        except (ConflictError, NotFoundError, ForbiddenError):
            continue
        report = collect_diagnostics(cluster, claimed, objects_of, now=clock.now(), log_lines=log_lines)
        try:
            gateway.submit_diagnostic(claimed.id, report)
        except TransientError:
            raise
        except BrokkrError:
            continue
        answered.append(claimed.id)
    return answered


__all__ = [
    "DEFAULT_LOG_LINES",
    "MAX_EVENTS",
    "collect_diagnostics",
    "event_entry",
    "pod_status",
    "process_pending_diagnostics",
]
