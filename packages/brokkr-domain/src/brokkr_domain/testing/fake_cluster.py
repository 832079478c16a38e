"""An in-memory Kubernetes cluster behind the ``Cluster`` port, for agent tests and embedders of the domain.

It models the parts of Kubernetes whose absence would let agent bugs pass unnoticed, and nothing more:

- discovery: a table of built-in kinds (namespaced or cluster-scoped, served versions) that grows when a
  CustomResourceDefinition is applied, so a custom resource applied before its CRD fails as it would for real;
- namespaces: namespaced objects default to ``default`` and need their namespace to exist; deleting a
  namespace deletes what it holds; deleting a CRD deletes its custom resources; objects whose
  ``ownerReferences`` point at a deleted object are garbage-collected;
- apply: merges ``metadata.labels``/``metadata.annotations`` into the live object and replaces everything else
  but ``status``; a dry run computes the answer and changes nothing; names must be RFC 1123 subdomains;
- scripting: ``put`` places any object as is (pods with a status, objects of other owners), events and log
  tails can be added, ``reject`` makes the API server refuse chosen objects, and ``fail_next`` makes the next
  calls raise ``TransientError`` (an overloaded API server).

Every call is recorded in ``calls`` as ``(operation, detail)`` so tests can assert what the agent did, and all
methods are thread-safe because the agent may apply independent objects concurrently.
"""

from __future__ import annotations

import copy
import itertools
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from brokkr_domain.errors import NotFoundError, TransientError, ValidationError
from brokkr_domain.manifests import KubeObject, ObjectRef
from brokkr_domain.ports.cluster import Manifest

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_CRD_GROUP = "apiextensions.k8s.io"

Key = tuple[str, str, str | None, str]  # group, kind, namespace, name


@attrs.frozen
class KindInfo:
    """One served kind: its group, the versions it is served at, and whether it lives in namespaces."""

    group: str
    kind: str
    versions: frozenset[str]
    namespaced: bool
    crd: str | None = None  # name of the CRD that registered it


def _builtin(api_version: str, kind: str, namespaced: bool = True) -> KindInfo:
    group, _, version = api_version.rpartition("/")
    return KindInfo(group, kind, frozenset({version}), namespaced)


BUILTIN_KINDS: tuple[KindInfo, ...] = (
    _builtin("v1", "Namespace", namespaced=False),
    _builtin("v1", "ConfigMap"),
    _builtin("v1", "Secret"),
    _builtin("v1", "Service"),
    _builtin("v1", "ServiceAccount"),
    _builtin("v1", "Pod"),
    _builtin("v1", "Event"),
    _builtin("v1", "PersistentVolumeClaim"),
    _builtin("v1", "ReplicationController"),
    _builtin("v1", "PersistentVolume", namespaced=False),
    _builtin("apps/v1", "Deployment"),
    _builtin("apps/v1", "StatefulSet"),
    _builtin("apps/v1", "DaemonSet"),
    _builtin("apps/v1", "ReplicaSet"),
    _builtin("batch/v1", "Job"),
    _builtin("batch/v1", "CronJob"),
    _builtin("networking.k8s.io/v1", "Ingress"),
    _builtin("networking.k8s.io/v1", "NetworkPolicy"),
    _builtin("policy/v1", "PodDisruptionBudget"),
    _builtin("rbac.authorization.k8s.io/v1", "Role"),
    _builtin("rbac.authorization.k8s.io/v1", "RoleBinding"),
    _builtin("rbac.authorization.k8s.io/v1", "ClusterRole", namespaced=False),
    _builtin("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", namespaced=False),
    _builtin("storage.k8s.io/v1", "StorageClass", namespaced=False),
    _builtin("apiextensions.k8s.io/v1", "CustomResourceDefinition", namespaced=False),
)


def parse_selector(selector: str) -> list[tuple[str, str, str | None]]:
    """Parse an equality-based label selector into ``(operator, key, value)`` terms.

    Supported: ``a=b``, ``a==b``, ``a!=b``, ``a`` (exists) and ``!a`` (absent), comma-separated.
    """
    terms: list[tuple[str, str, str | None]] = []
    for raw in selector.split(","):
        term = raw.strip()
        if not term:
            continue
        if "!=" in term:
            key, value = term.split("!=", 1)
            terms.append(("!=", key.strip(), value.strip()))
        elif "=" in term:
            key, value = term.split("==", 1) if "==" in term else term.split("=", 1)
            terms.append(("=", key.strip(), value.strip()))
        elif term.startswith("!"):
            terms.append(("!", term[1:].strip(), None))
        else:
            terms.append(("exists", term, None))
    for _op, key, _value in terms:
        if not key:
            raise ValidationError(f"invalid label selector {selector!r}")
    return terms


def selector_matches(terms: Iterable[tuple[str, str, str | None]], labels: Mapping[str, str]) -> bool:
    for op, key, value in terms:
        present = key in labels
        if (
            (op == "=" and labels.get(key) != value)
            or (op == "!=" and present and labels.get(key) == value)
            or (op == "exists" and not present)
            or (op == "!" and present)
        ):
            return False
    return True


def _metadata(obj: Mapping[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict(_metadata(obj).get("labels") or {})


class FakeCluster:
    """In-memory ``Cluster`` with Kubernetes-like semantics (see the module docstring)."""

    def __init__(self, *, version: str = "v1.30.0-fake", namespaces: Iterable[str] = ("default",)) -> None:
        self._lock = threading.RLock()
        self._version = version
        self._kinds: dict[tuple[str, str], KindInfo] = {(k.group, k.kind): k for k in BUILTIN_KINDS}
        self._objects: dict[Key, Manifest] = {}
        self._logs: dict[tuple[str, str, str], str] = {}
        self._rejections: list[tuple[Callable[[KubeObject], bool], str]] = []
        self._faults: list[tuple[int, Exception, frozenset[str] | None]] = []
        self._resource_version = itertools.count(1)
        self._uids = itertools.count(1)
        self.calls: list[tuple[str, str]] = []
        for name in namespaces:
            self.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    # ------------------------------------------------------------------------------------------ scripting

    def put(self, manifest: Mapping[str, Any]) -> Manifest:
        """Store an object as given (status included), bypassing validation except for a known kind.

        For objects the agent did not apply: pods with a status, objects of other owners, pre-existing
        namespaces. A namespaced object without a namespace goes to ``default``.
        """
        body = copy.deepcopy(dict(manifest))
        with self._lock:
            info = self._kind_of(str(body.get("apiVersion", "")), str(body.get("kind", "")))
            metadata = body.setdefault("metadata", {})
            if info.namespaced:
                metadata.setdefault("namespace", "default")
            else:
                metadata.pop("namespace", None)
            is_crd = info.group == _CRD_GROUP and info.kind == "CustomResourceDefinition"
            if is_crd:
                _check_crd(body)
            self._stamp(metadata, None)
            self._objects[self._key_of(info, metadata)] = body
            if is_crd:
                self._register_crd(body)
            return copy.deepcopy(body)

    def add_event(
        self,
        namespace: str,
        involved: ObjectRef | str,
        *,
        reason: str,
        message: str,
        event_type: str = "Normal",
        last_timestamp: str = "2024-01-01T00:00:00Z",
        first_timestamp: str | None = None,
        count: int = 1,
        name: str | None = None,
    ) -> Manifest:
        """Record a core/v1 Event about ``involved`` (a ref, or just a name) in ``namespace``."""
        involved_name = involved if isinstance(involved, str) else involved.name
        involved_obj: dict[str, Any] = {"name": involved_name, "namespace": namespace}
        if isinstance(involved, ObjectRef):
            involved_obj.update(apiVersion=involved.api_version, kind=involved.kind)
        with self._lock:
            event_name = name or f"{involved_name}.{next(self._uids):x}"
        return self.put(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": event_name, "namespace": namespace},
                "involvedObject": involved_obj,
                "reason": reason,
                "message": message,
                "type": event_type,
                "firstTimestamp": first_timestamp or last_timestamp,
                "lastTimestamp": last_timestamp,
                "count": count,
            }
        )

    def set_logs(self, namespace: str, pod: str, container: str, text: str) -> None:
        with self._lock:
            self._logs[(namespace, pod, container)] = text

    def reject(self, predicate: Callable[[KubeObject], bool], message: str) -> None:
        """Make apply (dry run included) refuse every object the predicate selects, with ``message``."""
        with self._lock:
            self._rejections.append((predicate, message))

    def fail_next(
        self, count: int = 1, *, error: Exception | None = None, operations: Iterable[str] | None = None
    ) -> None:
        """The next ``count`` calls (of ``operations``, default all) raise ``error`` (a TransientError)."""
        failure = (
            error if error is not None else TransientError("the API server is overloaded (fault injected)")
        )
        with self._lock:
            self._faults.append((count, failure, frozenset(operations) if operations is not None else None))

    def objects(self) -> list[Manifest]:
        """Every stored object (copies), in a stable order."""
        with self._lock:
            return [copy.deepcopy(self._objects[key]) for key in sorted(self._objects, key=_sort_key)]

    def refs(self, *, kinds: Iterable[str] | None = None) -> set[ObjectRef]:
        """Identities of the stored objects (optionally of some kinds only); handy for assertions."""
        wanted = set(kinds) if kinds is not None else None
        with self._lock:
            return {
                ObjectRef(obj["apiVersion"], kind, namespace, name)
                for (_group, kind, namespace, name), obj in self._objects.items()
                if wanted is None or kind in wanted
            }

    def count_calls(self, operation: str) -> int:
        with self._lock:
            return sum(1 for op, _ in self.calls if op == operation)

    # ------------------------------------------------------------------------------------------ the port

    def server_version(self) -> str:
        self._enter("server_version", "")
        return self._version

    def is_namespaced(self, api_version: str, kind: str) -> bool:
        self._enter("is_namespaced", f"{api_version}/{kind}")
        with self._lock:
            return self._kind_of(api_version, kind).namespaced

    def apply(self, obj: KubeObject, *, dry_run: bool = False) -> Manifest:
        self._enter("dry_run" if dry_run else "apply", str(obj.ref))
        with self._lock:
            info = self._kind_of(obj.api_version, obj.kind)
            namespace = (obj.namespace or "default") if info.namespaced else None
            key = (info.group, info.kind, namespace, obj.name)
            self._validate(obj, info, namespace)
            live = self._objects.get(key)
            result = self._merged(obj, live, namespace)
            if dry_run:
                return result
            self._objects[key] = result
            if info.group == _CRD_GROUP and info.kind == "CustomResourceDefinition":
                self._register_crd(result)
            return copy.deepcopy(result)

    def get(self, ref: ObjectRef) -> Manifest | None:
        self._enter("get", str(ref))
        with self._lock:
            found = self._objects.get(self._ref_key(ref))
            return copy.deepcopy(found) if found is not None else None

    def list_by_labels(self, label_selector: str) -> list[Manifest]:
        self._enter("list_by_labels", label_selector)
        terms = parse_selector(label_selector)
        with self._lock:
            return [
                copy.deepcopy(self._objects[key])
                for key in sorted(self._objects, key=_sort_key)
                if selector_matches(terms, _labels(self._objects[key]))
            ]

    def delete(self, ref: ObjectRef, *, propagation: str = "Background") -> bool:
        self._enter("delete", str(ref))
        with self._lock:
            key = self._ref_key(ref)
            gone = self._objects.pop(key, None)
            if gone is None:
                return False
            self._cascade(key, gone)
            return True

    def list_pods(self, namespace: str, label_selector: Mapping[str, str] | None = None) -> list[Manifest]:
        self._enter("list_pods", namespace)
        wanted = dict(label_selector or {})
        with self._lock:
            return [
                copy.deepcopy(obj)
                for (group, kind, ns, _name), obj in sorted(
                    self._objects.items(), key=lambda i: _sort_key(i[0])
                )
                if group == ""
                and kind == "Pod"
                and ns == namespace
                and all(_labels(obj).get(k) == v for k, v in wanted.items())
            ]

    def list_events(self, namespace: str, *, involved_name: str | None = None) -> list[Manifest]:
        self._enter("list_events", namespace)
        with self._lock:
            return [
                copy.deepcopy(obj)
                for (group, kind, ns, _name), obj in sorted(
                    self._objects.items(), key=lambda i: _sort_key(i[0])
                )
                if group == ""
                and kind == "Event"
                and ns == namespace
                and (involved_name is None or (obj.get("involvedObject") or {}).get("name") == involved_name)
            ]

    def pod_log_tail(self, namespace: str, pod: str, container: str, lines: int) -> str:
        self._enter("pod_log_tail", f"{namespace}/{pod}/{container}")
        with self._lock:
            live = self._objects.get(("", "Pod", namespace, pod))
            if live is None:
                raise NotFoundError(f'pods "{pod}" not found')
            text = self._logs.get((namespace, pod, container))
            if text is None:
                names = {c.get("name") for c in (live.get("spec") or {}).get("containers") or []}
                if container not in names:
                    raise ValidationError(f"container {container} is not valid for pod {pod}")
                return ""
        kept = text.splitlines()[-lines:] if lines > 0 else []
        return "\n".join(kept) + ("\n" if kept else "")

    # ------------------------------------------------------------------------------------------ internals

    def _enter(self, operation: str, detail: str) -> None:
        """Record the call, then raise an injected fault if one is due."""
        with self._lock:
            self.calls.append((operation, detail))
            for index, (left, error, operations) in enumerate(self._faults):
                if operations is None or operation in operations:
                    if left <= 1:
                        del self._faults[index]
                    else:
                        self._faults[index] = (left - 1, error, operations)
                    raise error

    def _kind_of(self, api_version: str, kind: str) -> KindInfo:
        group, _, version = api_version.rpartition("/")
        info = self._kinds.get((group, kind))
        if info is None or version not in info.versions:
            raise ValidationError(
                f'no matches for kind "{kind}" in version "{api_version}"',
                code="unknown_kind",
                details={"api_version": api_version, "kind": kind},
            )
        return info

    def _ref_key(self, ref: ObjectRef) -> Key:
        info = self._kind_of(ref.api_version, ref.kind)
        namespace = (ref.namespace or "default") if info.namespaced else None
        return (info.group, info.kind, namespace, ref.name)

    @staticmethod
    def _key_of(info: KindInfo, metadata: Mapping[str, Any]) -> Key:
        namespace = metadata.get("namespace") if info.namespaced else None
        return (info.group, info.kind, namespace, str(metadata.get("name", "")))

    def _validate(self, obj: KubeObject, info: KindInfo, namespace: str | None) -> None:
        if len(obj.name) > 253 or not _SUBDOMAIN.fullmatch(obj.name):
            raise ValidationError(
                f'{obj.kind} "{obj.name}" is invalid: metadata.name: must be a lowercase RFC 1123 subdomain'
            )
        if namespace is not None and ("", "Namespace", None, namespace) not in self._objects:
            raise ValidationError(f'namespaces "{namespace}" not found', details={"namespace": namespace})
        if info.group == _CRD_GROUP and info.kind == "CustomResourceDefinition":
            _check_crd(obj.body)
        for predicate, message in self._rejections:
            if predicate(obj):
                raise ValidationError(f'{obj.kind} "{obj.name}" is invalid: {message}')

    def _merged(self, obj: KubeObject, live: Manifest | None, namespace: str | None) -> Manifest:
        """The object after applying ``obj`` over ``live``: labels/annotations merged, the rest replaced."""
        body = copy.deepcopy(obj.body)
        body.pop("status", None)
        metadata = body.setdefault("metadata", {})
        if namespace is None:
            metadata.pop("namespace", None)
        else:
            metadata["namespace"] = namespace
        if live is None:
            self._stamp(metadata, None)
            return body
        live_meta = _metadata(live)
        for field in ("labels", "annotations"):
            merged = {**(live_meta.get(field) or {}), **(metadata.get(field) or {})}
            if merged:
                metadata[field] = merged
        if "status" in live:
            body["status"] = copy.deepcopy(live["status"])
        self._stamp(metadata, live_meta)
        if {k: v for k, v in live.items() if k not in ("metadata", "status")} != {
            k: v for k, v in body.items() if k not in ("metadata", "status")
        }:
            metadata["generation"] = int(live_meta.get("generation", 1)) + 1
        return body

    def _stamp(self, metadata: dict[str, Any], live_meta: Mapping[str, Any] | None) -> None:
        """Server-owned metadata: uid, resourceVersion, generation, creationTimestamp."""
        if live_meta is None:
            metadata.setdefault("uid", f"00000000-0000-4000-8000-{next(self._uids):012x}")
            metadata.setdefault("generation", 1)
            metadata.setdefault("creationTimestamp", "2024-01-01T00:00:00Z")
        else:
            for field in ("uid", "generation", "creationTimestamp"):
                if field in live_meta:
                    metadata[field] = live_meta[field]
        metadata["resourceVersion"] = str(next(self._resource_version))

    def _register_crd(self, crd: Mapping[str, Any]) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        versions = frozenset(
            v["name"] for v in spec.get("versions") or [] if isinstance(v, dict) and v.get("served", True)
        )
        name = str(_metadata(crd).get("name"))
        for key in [key for key, info in self._kinds.items() if info.crd == name]:
            del self._kinds[key]
        self._kinds[(spec["group"], names["kind"])] = KindInfo(
            spec["group"], names["kind"], versions, spec.get("scope", "Namespaced") == "Namespaced", crd=name
        )

    def _cascade(self, key: Key, gone: Manifest) -> None:
        """What the API server and the garbage collector do after a delete."""
        group, kind, _namespace, name = key
        if group == "" and kind == "Namespace":
            for other in [k for k in self._objects if k[2] == name]:
                del self._objects[other]
            self._logs = {k: v for k, v in self._logs.items() if k[0] != name}
        if group == _CRD_GROUP and kind == "CustomResourceDefinition":
            removed = [k for k, info in self._kinds.items() if info.crd == name]
            for kind_key in removed:
                del self._kinds[kind_key]
            for other in [k for k in self._objects if (k[0], k[1]) in removed]:
                del self._objects[other]
        uids = {_metadata(gone).get("uid")}
        while uids:
            orphans = [
                k
                for k, obj in self._objects.items()
                if any(ref.get("uid") in uids for ref in _metadata(obj).get("ownerReferences") or [])
            ]
            uids = {_metadata(self._objects.pop(k)).get("uid") for k in orphans}


def _check_crd(body: Mapping[str, Any]) -> None:
    spec = body.get("spec")
    names = spec.get("names") if isinstance(spec, dict) else None
    if not isinstance(spec, dict) or not isinstance(names, dict):
        raise ValidationError("CustomResourceDefinition is invalid: spec.names: Required value")
    if not spec.get("group") or not names.get("kind") or not names.get("plural"):
        raise ValidationError(
            "CustomResourceDefinition is invalid: spec.group, names.kind and names.plural are required"
        )
    versions = spec.get("versions")
    if (
        not isinstance(versions, list)
        or not versions
        or not all(isinstance(v, dict) and v.get("name") for v in versions)
    ):
        raise ValidationError(
            "CustomResourceDefinition is invalid: spec.versions: must have at least one version"
        )
    if spec.get("scope", "Namespaced") not in ("Namespaced", "Cluster"):
        raise ValidationError(
            "CustomResourceDefinition is invalid: spec.scope: must be Namespaced or Cluster"
        )


def _sort_key(key: Key) -> tuple[str, str, str, str]:
    group, kind, namespace, name = key
    return (group, kind, namespace or "", name)


__all__ = ["BUILTIN_KINDS", "FakeCluster", "KindInfo", "parse_selector", "selector_matches"]
