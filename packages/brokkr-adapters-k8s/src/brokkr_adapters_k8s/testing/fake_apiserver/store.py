"""The object store: storage, the single write path, deletion with garbage collection, listing.

Everything runs under one re-entrant lock, so HTTP handlers (on the server's event loop) and
scripting calls from test threads see a consistent cluster; hooks may call back into the store.
Every committed change bumps one global ``resourceVersion`` counter.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import errors
from .errors import ApiError, JsonDict
from .registry import TypeRegistry
from .resource_types import ResourceType, types_from_crd
from .selectors import SelectorError, fields_match, labels_match, parse_field_selector, parse_label_selector
from .ssa import ManagedEntry, record_update, same_ownership
from .strategies import apply_defaults, crd_status, initial_status
from .validation import validate_object

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace or "", name)
Hook = Callable[[Any, JsonDict], None]
OwnershipFn = Callable[[JsonDict], list[ManagedEntry]]

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACE_KEY = ("", "namespaces")
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass
class StoredObject:
    obj: JsonDict
    managed: list[ManagedEntry] = field(default_factory=list)


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _without(obj: JsonDict, *meta_keys: str) -> JsonDict:
    trimmed = copy.deepcopy(obj)
    for key in meta_keys:
        trimmed.get("metadata", {}).pop(key, None)
    return trimmed


class Store:
    """Objects keyed by group/resource, then namespace/name."""

    def __init__(
        self, clock: Callable[[], datetime] | None = None, *, list_items_with_type_meta: bool = False
    ):
        self.lock = threading.RLock()
        self.registry = TypeRegistry()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.list_items_with_type_meta = list_items_with_type_meta
        self.hook_errors: list[BaseException] = []
        self._objects: dict[tuple[str, str], dict[Key, StoredObject]] = {}
        self._rv = 0
        self._create_hooks: list[tuple[str, str, Hook]] = []
        self._update_hooks: list[tuple[str, str, Hook]] = []
        self._write_observers: list[Callable[[ResourceType, JsonDict], None]] = []
        self._delete_observers: list[Callable[[tuple[str, str], JsonDict], None]] = []
        for name in SYSTEM_NAMESPACES:
            self.put(self.registry.by_kind("", "Namespace"), {"metadata": {"name": name}})  # type: ignore[arg-type]

    # -- basics -------------------------------------------------------------------------------

    def now(self) -> str:
        return timestamp(self.clock())

    @property
    def resource_version(self) -> int:
        return self._rv

    def _bucket(self, rtype: ResourceType) -> dict[Key, StoredObject]:
        return self._objects.setdefault(rtype.store_key, {})

    def key_for(self, rtype: ResourceType, namespace: str | None, name: str) -> Key:
        return ((namespace or "") if rtype.namespaced else "", name)

    def lookup(self, rtype: ResourceType, namespace: str | None, name: str) -> StoredObject | None:
        return self._bucket(rtype).get(self.key_for(rtype, namespace, name))

    def require(self, rtype: ResourceType, namespace: str | None, name: str) -> StoredObject:
        stored = self.lookup(rtype, namespace, name)
        if stored is None:
            raise errors.not_found(rtype.group, rtype.plural, name)
        return stored

    def require_namespace(self, namespace: str) -> None:
        if (("", namespace)) not in self._objects.get(NAMESPACE_KEY, {}):
            raise errors.not_found("", "namespaces", namespace)

    def render(self, rtype: ResourceType, stored: StoredObject, *, type_meta: bool = True) -> JsonDict:
        """The object as clients see it, at the requested version."""
        obj = copy.deepcopy(stored.obj)
        obj.pop("kind", None)
        meta = obj.setdefault("metadata", {})
        if stored.managed:
            meta["managedFields"] = [e.to_json() for e in stored.managed]
        head: JsonDict = {"apiVersion": rtype.api_version, "kind": rtype.kind} if type_meta else {}
        return {**head, **obj}

    def observe_writes(self, observer: Callable[[ResourceType, JsonDict], None]) -> None:
        """Call ``observer(type, stored_object)`` after every committed write (controller simulation)."""
        with self.lock:
            self._write_observers.append(observer)

    # -- the write path ------------------------------------------------------------------------

    def write(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        candidate: JsonDict,
        ownership: OwnershipFn,
        *,
        dry_run: bool = False,
        subresource: str = "",
        keep_status: bool = True,
    ) -> tuple[StoredObject, bool]:
        """Validate and commit ``candidate`` as the new state of one object.

        Returns the stored (or, for dry runs, would-be) object and whether it was created. A write
        that changes neither the object nor field ownership is a no-op and keeps its resourceVersion.
        """
        old = self.lookup(rtype, namespace, name)
        obj = copy.deepcopy(candidate)
        obj.pop("apiVersion", None)
        obj["kind"] = rtype.kind
        if subresource == "status" and old is not None:
            status = obj.get("status")
            obj = copy.deepcopy(old.obj)
            obj.pop("status", None)
            if status is not None:
                obj["status"] = status
        meta = obj.setdefault("metadata", {})
        meta["name"] = name
        if rtype.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        for key in ("resourceVersion", "managedFields", "selfLink"):
            meta.pop(key, None)
        if old is None:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = self.now()
            if rtype.tracks_generation:
                meta["generation"] = 1
            if rtype.has_status and keep_status:
                obj.pop("status", None)
                status = initial_status(rtype, obj)
                if status is not None:
                    obj["status"] = status
        else:
            old_meta = old.obj["metadata"]
            for key in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ):
                if key in old_meta:
                    meta[key] = old_meta[key]
                else:
                    meta.pop(key, None)
            if rtype.has_status and keep_status and subresource != "status":
                obj.pop("status", None)
                if "status" in old.obj:
                    obj["status"] = copy.deepcopy(old.obj["status"])
            if rtype.tracks_generation and _spec_changed(old.obj, obj):
                meta["generation"] = int(old_meta.get("generation", 0)) + 1
        apply_defaults(rtype, obj)
        if rtype.store_key == CRD_KEY:
            obj["status"] = crd_status(obj)
        validate_object(rtype, obj)
        managed = ownership(obj)
        if old is not None and _same_object(old.obj, obj) and same_ownership(old.managed, managed):
            return old, False
        if dry_run:
            if old is not None:
                meta["resourceVersion"] = old.obj["metadata"]["resourceVersion"]
            return StoredObject(obj, managed), old is None
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        stored = StoredObject(obj, managed)
        self._bucket(rtype)[self.key_for(rtype, namespace, name)] = stored
        self._after_write(rtype, stored, created=old is None)
        return stored, old is None

    def put(
        self, rtype: ResourceType, obj: JsonDict, *, manager: str = "", keep_status: bool = True
    ) -> StoredObject:
        """Create or overwrite an object without HTTP-level checks (bootstrap, scripting, simulation)."""
        meta = obj.get("metadata") or {}
        old = self.lookup(rtype, meta.get("namespace"), meta["name"])

        def ownership(final: JsonDict) -> list[ManagedEntry]:
            if not manager:
                return list(old.managed) if old else []
            return record_update(
                old.obj if old else None,
                old.managed if old else [],
                final,
                manager=manager,
                api_version=rtype.api_version,
                now=self.now(),
                has_status=rtype.has_status and keep_status,
            )

        stored, _ = self.write(
            rtype, meta.get("namespace"), meta["name"], obj, ownership, keep_status=keep_status
        )
        return stored

    def _after_write(self, rtype: ResourceType, stored: StoredObject, *, created: bool) -> None:
        if rtype.store_key == CRD_KEY:
            self.registry.register_crd(stored.obj["metadata"]["name"], types_from_crd(stored.obj))
        if rtype.store_key == NAMESPACE_KEY and created:
            sa_type = self.registry.by_kind("", "ServiceAccount")
            if sa_type is not None:
                self.put(
                    sa_type, {"metadata": {"name": "default", "namespace": stored.obj["metadata"]["name"]}}
                )
        meta = stored.obj["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self.remove(rtype.store_key, (meta.get("namespace", ""), meta["name"]), "Background")
            return
        for observer in list(self._write_observers):
            observer(rtype, stored.obj)
        hooks = self._create_hooks if created else self._update_hooks
        rendered = None
        for group, kind, hook in list(hooks):
            if group == rtype.group and kind == rtype.kind:
                rendered = rendered or self.render(rtype, stored)
                try:
                    hook(self, copy.deepcopy(rendered))
                except Exception as exc:
                    log.exception("fake apiserver hook failed")
                    self.hook_errors.append(exc)

    # -- deletion and garbage collection --------------------------------------------------------

    def delete_stored(self, rtype: ResourceType, stored: StoredObject, propagation: str) -> bool:
        """Delete honouring finalizers; True when the object is gone, False when only marked."""
        meta = stored.obj["metadata"]
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = self.now()
                meta["deletionGracePeriodSeconds"] = 0
                self._rv += 1
                meta["resourceVersion"] = str(self._rv)
            return False
        self.remove(rtype.store_key, (meta.get("namespace", ""), meta["name"]), propagation)
        return True

    def remove(self, store_key: tuple[str, str], key: Key, propagation: str) -> None:
        """Remove one object now, then cascade: namespace contents, CRD instances, dependents."""
        stored = self._objects.get(store_key, {}).pop(key, None)
        if stored is None:
            return
        self._rv += 1
        meta = stored.obj["metadata"]
        for observer in list(self._delete_observers):
            observer(store_key, stored.obj)
        if store_key == NAMESPACE_KEY:
            for bucket_key, bucket in list(self._objects.items()):
                for obj_key in [k for k in bucket if k[0] == meta["name"]]:
                    self.remove(bucket_key, obj_key, "Background")
        if store_key == CRD_KEY:
            for custom_key in {t.store_key for t in self.registry.unregister_crd(meta["name"])}:
                for obj_key in list(self._objects.get(custom_key, {})):
                    self.remove(custom_key, obj_key, "Background")
                self._objects.pop(custom_key, None)
        self._collect_dependents(meta["uid"], propagation)

    def _all_uids(self) -> set[str]:
        return {s.obj["metadata"]["uid"] for bucket in self._objects.values() for s in bucket.values()}

    def _collect_dependents(self, owner_uid: str, propagation: str) -> None:
        alive = self._all_uids()
        for store_key, bucket in list(self._objects.items()):
            for key, stored in list(bucket.items()):
                refs = stored.obj["metadata"].get("ownerReferences") or []
                if not any(r.get("uid") == owner_uid for r in refs):
                    continue
                if propagation == "Orphan":
                    stored.obj["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != owner_uid]
                    if not stored.obj["metadata"]["ownerReferences"]:
                        del stored.obj["metadata"]["ownerReferences"]
                    self._rv += 1
                    stored.obj["metadata"]["resourceVersion"] = str(self._rv)
                elif not any(r.get("uid") in alive for r in refs):
                    rtype = self.registry.types_for_store(store_key)
                    if rtype:
                        self.delete_stored(rtype[0], stored, "Background")
                    else:
                        self.remove(store_key, key, "Background")

    # -- listing --------------------------------------------------------------------------------

    def list(
        self,
        rtype: ResourceType,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> JsonDict:
        try:
            label_reqs = parse_label_selector(label_selector)
            field_reqs = parse_field_selector(field_selector)
        except SelectorError as exc:
            raise errors.bad_request(str(exc)) from exc
        for req in field_reqs:
            if not rtype.allows_field(req.path):
                if rtype.custom:
                    raise errors.bad_request(
                        f'"{req.path}" is not a known field selector: '
                        'only "metadata.name", "metadata.namespace"'
                    )
                raise errors.bad_request(f"field label not supported: {req.path}")
        start = _decode_continue(continue_token)
        items = []
        for key in sorted(self._bucket(rtype)):
            stored = self._bucket(rtype)[key]
            if namespace and key[0] != namespace:
                continue
            if start is not None and key <= start:
                continue
            if not labels_match(label_reqs, stored.obj["metadata"].get("labels")):
                continue
            if not fields_match(field_reqs, stored.obj):
                continue
            items.append((key, stored))
        metadata: JsonDict = {"resourceVersion": str(self._rv)}
        if limit and len(items) > limit:
            last_key = items[limit - 1][0]
            if not label_reqs and not field_reqs:
                metadata["remainingItemCount"] = len(items) - limit
            metadata["continue"] = base64.b64encode(json.dumps(list(last_key)).encode()).decode()
            items = items[:limit]
        with_type = rtype.custom or self.list_items_with_type_meta
        return {
            "kind": rtype.list_kind,
            "apiVersion": rtype.api_version,
            "metadata": metadata,
            "items": [self.render(rtype, s, type_meta=with_type) for _, s in items],
        }


def _decode_continue(token: str | None) -> Key | None:
    if not token:
        return None
    try:
        namespace, name = json.loads(base64.b64decode(token.encode()))
        return (str(namespace), str(name))
    except (ValueError, TypeError) as exc:
        raise ApiError(400, "continue key is not valid: incorrect encoded start resourceVersion") from exc


def _spec_changed(old: JsonDict, new: JsonDict) -> bool:
    def body(obj: JsonDict) -> JsonDict:
        return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}

    return body(old) != body(new)


def _same_object(old: JsonDict, new: JsonDict) -> bool:
    return _without(old, "resourceVersion") == _without(new, "resourceVersion")
