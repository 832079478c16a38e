"""Per-kind server behaviour on write: defaulting, initial status, derived fields.

The real registry strategies do much more; these are the pieces a client can observe right
after a write and that tooling commonly reads back (Secret ``stringData`` folding, Namespace
phase and name label, Pod ``Pending``, Deployment defaults, CRD ``Established``).
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from .errors import JsonDict
from .resource_types import ResourceType

_NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def _setdefault_path(obj: JsonDict, dotted: str, value: Any) -> None:
    node = obj
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            return
        node = child
    node.setdefault(parts[-1], copy.deepcopy(value))


_DEFAULTS: dict[tuple[str, str], list[tuple[str, Any]]] = {
    ("apps", "Deployment"): [
        ("spec.replicas", 1),
        ("spec.revisionHistoryLimit", 10),
        ("spec.progressDeadlineSeconds", 600),
        (
            "spec.strategy",
            {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        ),
    ],
    ("apps", "StatefulSet"): [("spec.replicas", 1), ("spec.podManagementPolicy", "OrderedReady")],
    ("apps", "ReplicaSet"): [("spec.replicas", 1)],
    ("batch", "Job"): [("spec.backoffLimit", 6), ("spec.completions", 1), ("spec.parallelism", 1)],
    ("", "Service"): [("spec.type", "ClusterIP"), ("spec.sessionAffinity", "None")],
    ("", "Secret"): [("type", "Opaque")],
}


def apply_defaults(rtype: ResourceType, obj: JsonDict) -> None:
    """Fill defaulted fields in place (never overriding what the client set)."""
    if rtype.custom:
        return
    if rtype.kind == "Secret" and isinstance(obj.get("stringData"), dict):
        data = obj.setdefault("data", {})
        for key, value in obj.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    if rtype.kind == "Namespace":
        labels = obj.setdefault("metadata", {}).setdefault("labels", {})
        labels[_NAMESPACE_NAME_LABEL] = obj["metadata"]["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    if (rtype.group, rtype.kind) == ("batch", "Job"):
        _default_job_selector(obj)
    for dotted, value in _DEFAULTS.get((rtype.group, rtype.kind), []):
        if dotted.startswith("spec.") and not isinstance(obj.get("spec"), dict):
            obj["spec"] = {}
        _setdefault_path(obj, dotted, value)


def _default_job_selector(job: JsonDict) -> None:
    """Jobs get a generated selector on the controller uid, and matching template labels."""
    spec = job.get("spec")
    if not isinstance(spec, dict) or spec.get("selector") or spec.get("manualSelector"):
        return
    uid = job["metadata"]["uid"]
    name = job["metadata"]["name"]
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    template = spec.get("template")
    if isinstance(template, dict):
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        for key, value in (
            ("batch.kubernetes.io/controller-uid", uid),
            ("batch.kubernetes.io/job-name", name),
            ("controller-uid", uid),
            ("job-name", name),
        ):
            labels.setdefault(key, value)


def initial_status(rtype: ResourceType, obj: JsonDict) -> JsonDict | None:
    """The status a freshly created object of a kind with a status subresource starts with."""
    if rtype.custom:
        return None
    if rtype.kind == "Namespace":
        return {"phase": "Active"}
    if rtype.kind == "Pod":
        return {"phase": "Pending", "qosClass": "BestEffort"}
    if rtype.kind == "CustomResourceDefinition":
        return crd_status(obj)
    return None


def crd_status(crd: JsonDict) -> JsonDict:
    """What the apiextensions controllers write once a CRD's names are accepted."""
    spec = crd.get("spec") or {}
    names = dict(spec.get("names") or {})
    names.setdefault("singular", str(names.get("kind", "")).lower())
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    stored = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
    previous = (crd.get("status") or {}).get("storedVersions") or []
    condition_time = (crd.get("metadata") or {}).get("creationTimestamp", "")
    conditions = [
        {"type": t, "status": "True", "reason": r, "message": m, "lastTransitionTime": condition_time}
        for t, r, m in (
            ("NamesAccepted", "NoConflicts", "no conflicts found"),
            ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        )
    ]
    return {
        "acceptedNames": names,
        "conditions": conditions,
        "storedVersions": sorted(set(previous) | set(stored)),
    }
