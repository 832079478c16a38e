"""Kubernetes manifests as the agent sees them: parsed, checked and put in apply order.

A deployment object's ``yaml_content`` is multi-document YAML written by people. Whatever is wrong with it
must come back as one precise ``ValidationError`` (which document, which field, why) that the agent can
report as a failure event, never as a crash halfway through an apply. Parsing is bounded (input size,
document count, alias expansion, nesting) because the text comes from any generator.

The YAML is read the way Kubernetes reads it as far as the result can tell: timestamps stay strings,
non-string mapping keys (``80:``) become strings, and the result is plain JSON-like data that the cluster
adapter can send.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import yaml

from brokkr_domain.errors import ValidationError

try:
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

MAX_MANIFEST_BYTES = 8 * 1024 * 1024
MAX_DOCUMENTS = 5000
MAX_OBJECTS = 5000
MAX_DEPTH = 200
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"

NAMESPACE_KIND = "Namespace"
CRD_GROUP = "apiextensions.k8s.io"
CRD_KIND = "CustomResourceDefinition"

_CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CSIDriver",
        "CSINode",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "ComponentStatus",
        "CustomResourceDefinition",
        "FlowSchema",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)


class _ManifestLoader(_BaseLoader):
    """Safe loader that leaves timestamps as strings, as Kubernetes' YAML-to-JSON conversion does."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


@attrs.frozen
class ObjectRef:
    """Identity of one Kubernetes object; ``namespace`` is ``None`` if cluster-scoped or not given."""

    api_version: str
    kind: str
    namespace: str | None
    name: str

    @property
    def group(self) -> str:
        """API group; ``""`` for the core group (``apiVersion: v1``)."""
        group, _, _ = self.api_version.rpartition("/")
        return group

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def key(self) -> tuple[str, str, str | None, str]:
        """Identity without the version: the cluster may list an object under another version of its group."""
        return (self.group, self.kind, self.namespace, self.name)

    def __str__(self) -> str:
        if self.namespace is None:
            return f"{self.kind}/{self.name}"
        return f"{self.kind}/{self.namespace}/{self.name}"


@attrs.frozen(kw_only=True)
class KubeObject:
    """One manifest to apply: its identity, and the full body that is sent to the cluster."""

    api_version: str
    kind: str
    name: str
    namespace: str | None
    body: dict[str, Any]

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(self.api_version, self.kind, self.namespace, self.name)

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.body.get("metadata", {}).get("labels") or {})

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.body.get("metadata", {}).get("annotations") or {})

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> KubeObject:
        """Build from a JSON-like manifest (copied); ``ValidationError`` if it is not a usable object."""
        return _object_from(copy.deepcopy(dict(manifest)) if isinstance(manifest, Mapping) else manifest, "")


def is_namespace(obj: KubeObject | ObjectRef) -> bool:
    ref = obj.ref if isinstance(obj, KubeObject) else obj
    return ref.kind == NAMESPACE_KIND and ref.group == ""


def is_crd(obj: KubeObject | ObjectRef) -> bool:
    ref = obj.ref if isinstance(obj, KubeObject) else obj
    return ref.kind == CRD_KIND and ref.group == CRD_GROUP


def is_cluster_scoped_kind_hint(kind: str) -> bool:
    """Whether ``kind`` is a well-known cluster-scoped kind. Only a hint: discovery has the final word."""
    return kind in _CLUSTER_SCOPED_KINDS


def order_for_apply(objs: Iterable[KubeObject]) -> list[KubeObject]:
    """Namespaces first, then CRDs, then everything else; document order inside each group.

    Objects need their namespace and their custom kinds to exist before they can be applied. The reference
    reverses the relative order of the front group; keeping it is what a reader of the YAML expects.
    """
    items = list(objs)
    namespaces = [obj for obj in items if is_namespace(obj)]
    crds = [obj for obj in items if is_crd(obj)]
    rest = [obj for obj in items if not is_namespace(obj) and not is_crd(obj)]
    return namespaces + crds + rest


def _type_name(value: object) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


class _Budget:
    """Counts nodes so that alias bombs ("billion laughs") stop early instead of exhausting memory."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def spend(self, where: str) -> None:
        self.left -= 1
        if self.left < 0:
            raise ValidationError(f"{where}too many nodes (aliases expand to more data than the input holds)")


def _key(key: object, where: str, path: str) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int | float):
        return str(key)
    raise ValidationError(
        f"{where}{path or 'top level'}: unsupported mapping key of type {type(key).__name__}"
    )


def _json_like(value: object, where: str, path: str, depth: int, budget: _Budget) -> Any:
    """A fresh JSON-like copy of what PyYAML built (also un-shares aliased nodes)."""
    budget.spend(where)
    if depth > MAX_DEPTH:
        raise ValidationError(f"{where}{path}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for raw_key, item in value.items():
            key = _key(raw_key, where, path)
            result[key] = _json_like(item, where, f"{path}.{key}" if path else key, depth + 1, budget)
        return result
    if isinstance(value, list):
        return [_json_like(item, where, f"{path}[{i}]", depth + 1, budget) for i, item in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"{where}{path}: {value} is not a number Kubernetes accepts")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValidationError(f"{where}{path}: unsupported value of type {type(value).__name__} (quote it)")


def _required_string(mapping: Mapping[str, Any], key: str, label: str, where: str) -> str:
    value = mapping.get(key)
    if value is None:
        raise ValidationError(f"{where}missing {label}")
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{where}{label} must be a non-empty string, got {_type_name(value)}")
    return value


def _check_string_map(metadata: Mapping[str, Any], key: str, where: str) -> None:
    values = metadata.get(key)
    if values is None:
        return
    if not isinstance(values, dict):
        raise ValidationError(f"{where}metadata.{key} must be a mapping, got {_type_name(values)}")
    for name, value in values.items():
        if not isinstance(value, str):
            raise ValidationError(
                f"{where}metadata.{key}.{name} must be a string, got {_type_name(value)} (quote the value)"
            )


def _object_from(body: object, where: str) -> KubeObject:
    """Check one document (``where`` prefixes messages, e.g. ``"document 2: "``) and wrap it."""
    if not isinstance(body, dict):
        raise ValidationError(f"{where}expected a mapping (a Kubernetes object), got {_type_name(body)}")
    api_version = _required_string(body, "apiVersion", "apiVersion", where)
    kind = _required_string(body, "kind", "kind", where)
    metadata = body.get("metadata")
    if metadata is None:
        raise ValidationError(f"{where}{kind} has no metadata (metadata.name is required)")
    if not isinstance(metadata, dict):
        raise ValidationError(f"{where}metadata must be a mapping, got {_type_name(metadata)}")
    name = _required_string(metadata, "name", "metadata.name", f"{where}{kind}: ")
    here = f"{where}{kind} {name!r}: "
    namespace = metadata.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise ValidationError(f"{here}metadata.namespace must be a string, got {_type_name(namespace)}")
    _check_string_map(metadata, "labels", here)
    _check_string_map(metadata, "annotations", here)
    return KubeObject(api_version=api_version, kind=kind, name=name, namespace=namespace or None, body=body)


def _is_list_document(doc: dict[str, Any]) -> bool:
    """``kind: List`` (as ``kubectl get -o yaml`` prints) or a typed ``XxxList`` without a name of its own."""
    kind = doc.get("kind")
    metadata = doc.get("metadata")
    named = isinstance(metadata, dict) and metadata.get("name") is not None
    return (
        isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list) and not named
    )


def _documents(yaml_text: str) -> Iterable[tuple[int, object]]:
    """Yield ``(document number, data)`` with YAML errors turned into ``ValidationError``."""
    number = 0
    loader = yaml.load_all(yaml_text, Loader=_ManifestLoader)  # a SafeLoader subclass
    while True:
        try:
            doc = next(loader)
        except StopIteration:
            return
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            position = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            reason = " ".join(part for part in (exc.context, exc.problem) if part) or str(exc)
            raise ValidationError(f"document {number + 1}: invalid YAML{position}: {reason}") from None
        except yaml.YAMLError as exc:
            raise ValidationError(f"document {number + 1}: invalid YAML: {exc}") from None
        except RecursionError:
            raise ValidationError(f"document {number + 1}: invalid YAML: nested too deeply") from None
        number += 1
        if number > MAX_DOCUMENTS:
            raise ValidationError(f"too many YAML documents (more than {MAX_DOCUMENTS})")
        yield number, doc


def parse_manifests(yaml_text: str) -> list[KubeObject]:
    """All objects of a multi-document YAML text, in document order; empty documents are skipped.

    Documents are numbered from 1 as they appear (empty ones included), and every error names its document.
    """
    size = len(yaml_text.encode("utf-8", "surrogatepass"))
    if size > MAX_MANIFEST_BYTES:
        raise ValidationError(f"YAML content too large: {size} bytes (at most {MAX_MANIFEST_BYTES})")
    budget = _Budget(4 * len(yaml_text) + 10_000)
    objects: list[KubeObject] = []
    for number, raw in _documents(yaml_text):
        if raw is None:
            continue
        where = f"document {number}: "
        doc = _json_like(raw, where, "", 0, budget)
        if isinstance(doc, dict) and _is_list_document(doc):
            items = [
                _object_from(item, f"document {number}, item {i}: ") for i, item in enumerate(doc["items"], 1)
            ]
        else:
            items = [_object_from(doc, where)]
        objects.extend(items)
        if len(objects) > MAX_OBJECTS:
            raise ValidationError(f"too many Kubernetes objects (more than {MAX_OBJECTS})")
    return objects


__all__ = [
    "CRD_GROUP",
    "CRD_KIND",
    "MAX_DOCUMENTS",
    "MAX_MANIFEST_BYTES",
    "MAX_OBJECTS",
    "NAMESPACE_KIND",
    "KubeObject",
    "ObjectRef",
    "is_cluster_scoped_kind_hint",
    "is_crd",
    "is_namespace",
    "order_for_apply",
    "parse_manifests",
]
