"""What the fake serves: one :class:`ResourceType` per group/version/resource.

The built-in table covers the kinds Brokkr's agent touches (namespaces, config, workloads, RBAC,
CRDs, pods, events). Custom resources are added at run time from applied CRDs by
:func:`types_from_crd`; their objects share one store per group/resource across versions, as the
real API server's storage does when no conversion webhook is involved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")

# Field selectors every kind accepts.
COMMON_FIELD_LABELS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class ResourceType:
    """One servable resource, with what discovery advertises and what the store needs to know."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # Subresource names ("status", "log") served under .../<name>/<subresource>.
    subresources: tuple[str, ...] = ()
    # Whether metadata.generation is maintained (workloads, CRDs and custom resources do; ConfigMaps don't).
    tracks_generation: bool = False
    # Which rule validates metadata.name: "subdomain" (RFC 1123), "label" (RFC 1123 label) or "path".
    name_rule: str = "subdomain"
    # Field selectors accepted besides metadata.name / metadata.namespace.
    field_labels: tuple[str, ...] = ()
    # True for kinds registered by a CRD (served as unstructured data: no strategic merge patch).
    custom: bool = False
    # DELETE answers with the deleted object instead of a Status (the registry's ReturnDeletedObject).
    returns_deleted_object: bool = False
    crd_name: str = field(default="", compare=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def store_key(self) -> tuple[str, str]:
        """Objects are stored per group and resource, whatever version was used to write them."""
        return (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    def allows_field(self, label: str) -> bool:
        return label in COMMON_FIELD_LABELS or label in self.field_labels


_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)
_POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        "v1",
        "namespaces",
        "Namespace",
        False,
        short_names=("ns",),
        subresources=("status",),
        name_rule="label",
        field_labels=("status.phase",),
    ),
    ResourceType("", "v1", "configmaps", "ConfigMap", True, short_names=("cm",)),
    ResourceType("", "v1", "secrets", "Secret", True, field_labels=("type",)),
    ResourceType(
        "",
        "v1",
        "services",
        "Service",
        True,
        short_names=("svc",),
        returns_deleted_object=True,
        categories=("all",),
        subresources=("status",),
        name_rule="label1035",
    ),
    ResourceType(
        "", "v1", "serviceaccounts", "ServiceAccount", True, short_names=("sa",), returns_deleted_object=True
    ),
    ResourceType(
        "",
        "v1",
        "pods",
        "Pod",
        True,
        short_names=("po",),
        returns_deleted_object=True,
        categories=("all",),
        subresources=("status", "log"),
        field_labels=_POD_FIELDS,
    ),
    ResourceType("", "v1", "events", "Event", True, short_names=("ev",), field_labels=_EVENT_FIELDS),
    ResourceType(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        True,
        short_names=("deploy",),
        categories=("all",),
        subresources=("status",),
        tracks_generation=True,
    ),
    ResourceType(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        True,
        short_names=("sts",),
        categories=("all",),
        subresources=("status",),
        tracks_generation=True,
    ),
    ResourceType(
        "apps",
        "v1",
        "daemonsets",
        "DaemonSet",
        True,
        short_names=("ds",),
        categories=("all",),
        subresources=("status",),
        tracks_generation=True,
    ),
    ResourceType(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        True,
        short_names=("rs",),
        categories=("all",),
        subresources=("status",),
        tracks_generation=True,
        field_labels=("status.replicas",),
    ),
    ResourceType(
        "batch",
        "v1",
        "jobs",
        "Job",
        True,
        categories=("all",),
        subresources=("status",),
        tracks_generation=True,
        field_labels=("status.successful",),
    ),
    ResourceType(
        "batch",
        "v1",
        "cronjobs",
        "CronJob",
        True,
        short_names=("cj",),
        categories=("all",),
        subresources=("status",),
        tracks_generation=True,
    ),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        short_names=("crd", "crds"),
        subresources=("status",),
        tracks_generation=True,
    ),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", True, name_rule="path"),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True, name_rule="path"),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, name_rule="path"),
    ResourceType(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        False,
        name_rule="path",
    ),
)

_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key putting the version Kubernetes prefers first: GA > beta > alpha, higher numbers first."""
    match = _VERSION_RE.match(version)
    if match is None:
        return (3, 0, 0, version)
    major = int(match.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[match.group(2)]
    minor = int(match.group(3) or 0)
    return (stage, -major, -minor, version)


def types_from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """The resource types a (valid) CRD serves: one per served version."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    result = []
    for version in spec.get("versions") or []:
        if not version.get("served", False):
            continue
        subresources = ("status",) if "status" in (version.get("subresources") or {}) else ()
        result.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                kind=names["kind"],
                namespaced=spec.get("scope") == "Namespaced",
                singular=names.get("singular") or names["kind"].lower(),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=subresources,
                tracks_generation=True,
                custom=True,
                crd_name=crd["metadata"]["name"],
            )
        )
    return result
