"""Builders for the pod and event shapes tests script into the fake.

They produce what a kubelet or event recorder would write, complete enough for the official
client's strict models (``image``, ``imageID``, ``restartCount`` on container statuses,
``involvedObject`` on events), so reading them back through ``CoreV1Api`` works.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import JsonDict

DEFAULT_IMAGE = "registry.example/app:latest"


def running(started_at: str = "") -> JsonDict:
    return {"running": {"startedAt": started_at} if started_at else {}}


def waiting(reason: str, message: str = "") -> JsonDict:
    """E.g. ``waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container")``."""
    state: JsonDict = {"reason": reason}
    if message:
        state["message"] = message
    return {"waiting": state}


def terminated(reason: str, exit_code: int = 1, message: str = "") -> JsonDict:
    """E.g. ``terminated("OOMKilled", 137)`` or ``terminated("Completed", 0)``."""
    state: JsonDict = {"reason": reason, "exitCode": exit_code}
    if message:
        state["message"] = message
    return {"terminated": state}


def container_status(
    name: str,
    *,
    state: JsonDict | None = None,
    ready: bool | None = None,
    restart_count: int = 0,
    last_state: JsonDict | None = None,
    image: str = DEFAULT_IMAGE,
) -> JsonDict:
    """One ``containerStatuses`` entry; ``ready`` defaults to "running"."""
    state = state if state is not None else running()
    status: JsonDict = {
        "name": name,
        "image": image,
        "imageID": f"{image.split(':', maxsplit=1)[0]}@sha256:{'0' * 64}",
        "ready": ready if ready is not None else "running" in state,
        "restartCount": restart_count,
        "started": "running" in state,
        "state": state,
    }
    if last_state is not None:
        status["lastState"] = last_state
    return status


def condition(type_: str, status: bool | str, reason: str = "", message: str = "", at: str = "") -> JsonDict:
    value = status if isinstance(status, str) else ("True" if status else "False")
    cond: JsonDict = {"type": type_, "status": value}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    if at:
        cond["lastTransitionTime"] = at
    return cond


def _default_state(phase: str) -> JsonDict:
    return {
        "Running": running(),
        "Pending": waiting("ContainerCreating"),
        "Succeeded": terminated("Completed", 0),
        "Failed": terminated("Error", 1),
    }.get(phase, waiting("Unknown"))


def owner_reference(owner: Mapping[str, Any], *, controller: bool = True) -> JsonDict:
    """An ownerReference to a rendered object (or a ready-made reference)."""
    if "metadata" not in owner:
        return dict(owner)
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def pod_manifest(
    namespace: str,
    name: str,
    *,
    phase: str = "Running",
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    containers: Sequence[str] = ("app",),
    container_statuses: Sequence[JsonDict] | None = None,
    init_container_statuses: Sequence[JsonDict] | None = None,
    conditions: Sequence[JsonDict] | None = None,
    ready: bool | None = None,
    owner: Mapping[str, Any] | None = None,
    node_name: str = "fake-node",
    reason: str = "",
    message: str = "",
    now: str = "",
) -> JsonDict:
    """A Pod with spec and status; container names come from the statuses when those are given."""
    statuses = (
        list(container_statuses)
        if container_statuses is not None
        else [container_status(c, state=_default_state(phase)) for c in containers]
    )
    init_statuses = list(init_container_statuses or [])
    if ready is None:
        ready = phase == "Running" and all(s.get("ready") for s in statuses)
    if conditions is None:
        conditions = [
            condition("PodScheduled", True, at=now),
            condition(
                "Initialized",
                all(s.get("ready") or "terminated" in s.get("state", {}) for s in init_statuses),
                at=now,
            ),
            condition("ContainersReady", ready, at=now),
            condition("Ready", ready, at=now),
        ]
    metadata: JsonDict = {"name": name, "namespace": namespace, "labels": dict(labels or {})}
    if annotations:
        metadata["annotations"] = dict(annotations)
    if owner is not None:
        metadata["ownerReferences"] = [owner_reference(owner)]
    status: JsonDict = {
        "phase": phase,
        "conditions": list(conditions),
        "containerStatuses": statuses,
        "hostIP": "10.0.0.1",
        "podIP": "10.244.0.10",
        "qosClass": "BestEffort",
    }
    if now:
        status["startTime"] = now
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    spec: JsonDict = {
        "containers": [{"name": s["name"], "image": s.get("image", DEFAULT_IMAGE)} for s in statuses],
        "nodeName": node_name,
        "restartPolicy": "Always",
        "serviceAccountName": "default",
    }
    if init_statuses:
        spec["initContainers"] = [
            {"name": s["name"], "image": s.get("image", DEFAULT_IMAGE)} for s in init_statuses
        ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status}


def event_manifest(
    namespace: str,
    involved_object: Mapping[str, Any],
    reason: str,
    message: str,
    *,
    type_: str = "Normal",
    count: int = 1,
    first_timestamp: str,
    last_timestamp: str,
    name: str | None = None,
    component: str = "kubelet",
) -> JsonDict:
    """A core/v1 Event; ``involved_object`` is a rendered object or an ObjectReference dict."""
    if "metadata" in involved_object:
        meta = involved_object["metadata"]
        ref: JsonDict = {
            "apiVersion": involved_object.get("apiVersion", "v1"),
            "kind": involved_object.get("kind", ""),
            "name": meta["name"],
            "namespace": meta.get("namespace", namespace),
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        }
    else:
        ref = {"namespace": namespace, **involved_object}
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": name or f"{ref.get('name', 'object')}.{secrets.token_hex(8)}",
            "namespace": namespace,
        },
        "involvedObject": ref,
        "reason": reason,
        "message": message,
        "type": type_,
        "count": count,
        "firstTimestamp": first_timestamp,
        "lastTimestamp": last_timestamp,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": "",
    }
