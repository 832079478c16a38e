"""The agent's marks on cluster objects, and which marked objects it may delete.

Contract decision 6: the agent keeps users' labels and annotations (the reference replaced all annotations),
checks the owner annotation before every delete (pruning included), and never deletes a namespace it did not
create. Marks live only in ``metadata.labels``/``metadata.annotations`` of the top-level object; nothing under
``spec`` (pod templates in particular) is touched, so marking never triggers a rollout (contract decision 7).

Two labels let the agent find its objects with one label selector per stack; the annotations carry the rest.
The deletion rules are pure functions of the listed live objects so that the in-memory and the real cluster
adapters cannot disagree, and so that they can be checked against a naive reference implementation.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from uuid import UUID

import attrs

from brokkr_domain.errors import ValidationError
from brokkr_domain.manifests import NAMESPACE_KIND, KubeObject, ObjectRef

STACK_ANNOTATION = "k8s.brokkr.io/stack"
CHECKSUM_ANNOTATION = "k8s.brokkr.io/deployment-checksum"
DEPLOYMENT_OBJECT_ANNOTATION = "brokkr.io/deployment-object-id"
OWNER_ANNOTATION = "brokkr.io/owner-id"
CREATED_NAMESPACE_ANNOTATION = "brokkr.io/created-namespace"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "brokkr"
STACK_LABEL = "k8s.brokkr.io/stack"

_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


def _label_value(_inst: object, attr: attrs.Attribute[str], value: str) -> None:
    if not _LABEL_VALUE.fullmatch(value):
        raise ValidationError(
            f"{attr.name} {value!r} cannot be a Kubernetes label value "
            "(at most 63 alphanumerics, '-', '_', '.')"
        )


@attrs.frozen(kw_only=True)
class OwnershipMarks:
    """What the agent stamps on every object it applies (ids may be given as ``UUID`` or text)."""

    stack_id: str = attrs.field(converter=str, validator=_label_value)
    checksum: str = attrs.field(converter=str)
    deployment_object_id: str = attrs.field(converter=str)
    owner_id: str = attrs.field(converter=str)


def stack_selector(stack_id: str | UUID) -> str:
    """Label selector for every object the agents stamped for one stack."""
    return f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{STACK_LABEL}={stack_id}"


MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"


def mark(obj: KubeObject, marks: OwnershipMarks, *, created_namespace: bool = False) -> KubeObject:
    """A copy of ``obj`` with our labels and annotations added; every user label and annotation is kept.

    Our keys win on collision. ``created_namespace`` adds ``brokkr.io/created-namespace=true`` and is only
    valid on a Namespace; the agent passes it when it created the namespace (it did not exist before the first
    apply) or when the live namespace already carries it — otherwise server-side apply would drop the
    annotation on the next apply. A user-supplied ``created-namespace`` annotation is removed, so a manifest
    cannot make the agent believe it created (and may delete) a namespace that existed before.
    """
    if created_namespace and not (obj.kind == NAMESPACE_KIND and obj.ref.group == ""):
        raise ValueError(f"created_namespace applies to Namespaces only, not to {obj.ref}")
    body = copy.deepcopy(obj.body)
    metadata = body.setdefault("metadata", {})
    labels = dict(metadata.get("labels") or {})
    labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
    labels[STACK_LABEL] = marks.stack_id
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(CREATED_NAMESPACE_ANNOTATION, None)
    annotations[STACK_ANNOTATION] = marks.stack_id
    annotations[CHECKSUM_ANNOTATION] = marks.checksum
    annotations[DEPLOYMENT_OBJECT_ANNOTATION] = marks.deployment_object_id
    annotations[OWNER_ANNOTATION] = marks.owner_id
    if created_namespace:
        annotations[CREATED_NAMESPACE_ANNOTATION] = "true"
    metadata["labels"] = labels
    metadata["annotations"] = annotations
    return attrs.evolve(obj, body=body)


def _metadata(live: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = live.get("metadata") if isinstance(live, Mapping) else None
    return metadata if isinstance(metadata, Mapping) else {}


def _annotation(live: Mapping[str, Any], key: str) -> str | None:
    annotations = _metadata(live).get("annotations")
    value = annotations.get(key) if isinstance(annotations, Mapping) else None
    return value if isinstance(value, str) else None


def owner_of(live: Mapping[str, Any]) -> str | None:
    return _annotation(live, OWNER_ANNOTATION)


def is_owned_by(live: Mapping[str, Any], owner_id: str | UUID) -> bool:
    """Whether the live object carries our owner annotation with this agent's id."""
    return owner_of(live) == str(owner_id)


def stack_of(live: Mapping[str, Any]) -> str | None:
    return _annotation(live, STACK_ANNOTATION)


def checksum_of(live: Mapping[str, Any]) -> str | None:
    return _annotation(live, CHECKSUM_ANNOTATION)


def has_owner_references(live: Mapping[str, Any]) -> bool:
    """Objects owned by another Kubernetes object (ReplicaSets of a Deployment...) are its to delete."""
    return bool(_metadata(live).get("ownerReferences"))


def namespace_created_by_us(live: Mapping[str, Any]) -> bool:
    """Whether a live Namespace carries the mark the agent sets only on namespaces it created."""
    return _annotation(live, CREATED_NAMESPACE_ANNOTATION) == "true"


def ref_of(live: object) -> ObjectRef | None:
    """The identity of a live object, or ``None`` if it lacks ``apiVersion``, ``kind`` or a name."""
    if not isinstance(live, Mapping):
        return None
    api_version, kind = live.get("apiVersion"), live.get("kind")
    metadata = _metadata(live)
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not (isinstance(api_version, str) and isinstance(kind, str) and isinstance(name, str)):
        return None
    if not (api_version and kind and name):
        return None
    return ObjectRef(api_version, kind, namespace if isinstance(namespace, str) and namespace else None, name)


def _is_namespace_ref(ref: ObjectRef) -> bool:
    return ref.kind == NAMESPACE_KIND and ref.group == ""


def _desired_keys(desired_refs: Iterable[ObjectRef]) -> set[tuple[str, str, str | None, str]]:
    """Keys a live object may have when it is one of the desired objects.

    A namespaced object without a namespace lands in ``default``; a cluster-scoped object keeps no namespace
    even if the manifest named one; and the version is ignored because the cluster lists preferred versions.
    """
    keys: set[tuple[str, str, str | None, str]] = set()
    for ref in desired_refs:
        group, kind, namespace, name = ref.key
        keys.add((group, kind, namespace, name))
        keys.add((group, kind, None, name))
        if namespace is None:
            keys.add((group, kind, "default", name))
    return keys


Stale = Callable[[Mapping[str, Any], ObjectRef], bool]


def _deletable(
    observed: Iterable[Mapping[str, Any]],
    *,
    stack_id: str,
    owner_id: str,
    namespaces_created_by_us: set[str],
    is_stale: Stale,
) -> list[ObjectRef]:
    """Shared rules of pruning and deletion; ``is_stale(live, ref)`` picks which of our objects go.

    A namespace we created is still kept while it holds any observed object that is not deleted with it
    (another stack's, another agent's, one we keep): deleting a namespace deletes everything inside it.
    Objects with ``ownerReferences`` do not keep a namespace alive; their owners take them along.
    """
    items = list(observed)
    doomed: list[ObjectRef] = []
    namespaces: list[ObjectRef] = []
    seen: set[tuple[str, str, str | None, str]] = set()
    for live in items:
        ref = ref_of(live)
        if ref is None or ref.key in seen:
            continue
        seen.add(ref.key)
        if stack_of(live) != stack_id or not is_owned_by(live, owner_id) or has_owner_references(live):
            continue
        if not is_stale(live, ref):
            continue
        if _is_namespace_ref(ref):
            if ref.name in namespaces_created_by_us:
                namespaces.append(ref)
        else:
            doomed.append(ref)
    doomed_keys = {ref.key for ref in doomed}
    occupied = set()
    for live in items:
        ref = ref_of(live)
        if ref is None or ref.namespace is None or ref.key in doomed_keys or has_owner_references(live):
            continue
        occupied.add(ref.namespace)
    return doomed + [ref for ref in namespaces if ref.name not in occupied]


def prune_set(
    observed: Iterable[Mapping[str, Any]],
    *,
    stack_id: str | UUID,
    current_checksum: str,
    owner_id: str | UUID,
    desired_refs: set[ObjectRef],
    namespaces_created_by_us: set[str],
) -> list[ObjectRef]:
    """The observed live objects the agent may delete after applying a new version of a stack.

    An object goes when all hold: it carries our owner annotation with ``owner_id``; it belongs to
    ``stack_id``; it has no ``ownerReferences``; and its checksum differs from ``current_checksum`` (a missing
    checksum differs) or it is not one of ``desired_refs``. A Namespace additionally must be one of
    ``namespaces_created_by_us`` and must not hold any other observed object that stays. Namespaces come last,
    after the objects inside them. Pass every object the agents marked (``MANAGED_SELECTOR``), not only this
    stack's, so that namespaces shared with other stacks are recognised.
    """
    desired = _desired_keys(desired_refs)

    def is_stale(live: Mapping[str, Any], ref: ObjectRef) -> bool:
        return checksum_of(live) != current_checksum or ref.key not in desired

    return _deletable(
        observed,
        stack_id=str(stack_id),
        owner_id=str(owner_id),
        namespaces_created_by_us=set(namespaces_created_by_us),
        is_stale=is_stale,
    )


def deletion_set(
    observed: Iterable[Mapping[str, Any]],
    *,
    stack_id: str | UUID,
    owner_id: str | UUID,
    namespaces_created_by_us: set[str],
) -> list[ObjectRef]:
    """What a deletion marker removes: every observed object of the stack that we own, namespaces last.

    Same ownership, ``ownerReferences`` and namespace rules as ``prune_set``.
    """
    return _deletable(
        observed,
        stack_id=str(stack_id),
        owner_id=str(owner_id),
        namespaces_created_by_us=set(namespaces_created_by_us),
        is_stale=lambda _live, _ref: True,
    )


__all__ = [
    "CHECKSUM_ANNOTATION",
    "CREATED_NAMESPACE_ANNOTATION",
    "DEPLOYMENT_OBJECT_ANNOTATION",
    "MANAGED_BY_LABEL",
    "MANAGED_BY_VALUE",
    "MANAGED_SELECTOR",
    "OWNER_ANNOTATION",
    "STACK_ANNOTATION",
    "STACK_LABEL",
    "OwnershipMarks",
    "checksum_of",
    "deletion_set",
    "has_owner_references",
    "is_owned_by",
    "mark",
    "namespace_created_by_us",
    "owner_of",
    "prune_set",
    "ref_of",
    "stack_of",
    "stack_selector",
]
