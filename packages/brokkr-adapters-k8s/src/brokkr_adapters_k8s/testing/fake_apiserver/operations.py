"""The API verbs (create, replace, patch/apply, delete, deletecollection) on top of the store.

Each verb checks the request the way the API server does (type meta, URL identity, namespace
existence, optimistic concurrency), builds the candidate object, decides field ownership, and
hands it to :meth:`Store.write`. ``dry_run`` runs every check and returns the would-be result
without committing anything.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from . import errors
from .errors import ApiError, Cause, JsonDict
from .patches import APPLY, JSON_PATCH, MERGE, STRATEGIC, json_patch, merge_patch, strategic_merge_patch
from .resource_types import ResourceType
from .ssa import ManagedEntry, apply, record_update
from .store import OwnershipFn, Store, StoredObject
from .validation import check_type_meta, check_url_identity, require_object

PROPAGATION_POLICIES = ("Background", "Foreground", "Orphan")
_GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"


class ApiOperations(Store):
    """Request-level semantics; every method takes the lock and raises :class:`ApiError`."""

    def api_get(self, rtype: ResourceType, namespace: str | None, name: str) -> JsonDict:
        with self.lock:
            return self.render(rtype, self.require(rtype, namespace, name))

    def api_list(self, rtype: ResourceType, namespace: str | None, **selectors: Any) -> JsonDict:
        with self.lock:
            return self.list(rtype, namespace, **selectors)

    def _ownership_update(
        self, rtype: ResourceType, old: StoredObject | None, manager: str, subresource: str
    ) -> OwnershipFn:
        """Ownership for a non-apply write, computed on the final (defaulted) object."""

        def ownership(final: JsonDict) -> list[ManagedEntry]:
            return record_update(
                old.obj if old else None,
                old.managed if old else [],
                final,
                manager=manager,
                api_version=rtype.api_version,
                now=self.now(),
                scope="status" if subresource == "status" else "main",
                has_status=rtype.has_status,
            )

        return ownership

    def api_create(
        self, rtype: ResourceType, namespace: str | None, body: Any, *, manager: str, dry_run: bool
    ) -> JsonDict:
        body = require_object(body)
        with self.lock:
            check_type_meta(rtype, body, required=False)
            check_url_identity(body, name=None, namespace=namespace if rtype.namespaced else None)
            meta = body.setdefault("metadata", {})
            if not isinstance(meta, dict):
                raise errors.bad_request("metadata must be an object")
            name = meta.get("name") or ""
            if not name and meta.get("generateName"):
                name = meta["generateName"] + random_suffix()
                meta["name"] = name
            if not name:
                raise errors.invalid(
                    rtype.kind,
                    rtype.group,
                    "",
                    [
                        Cause(
                            "metadata.name",
                            "FieldValueRequired",
                            "Required value: name or generateName is required",
                        )
                    ],
                )
            if rtype.namespaced:
                self.require_namespace(namespace or "")
            if self.lookup(rtype, namespace, name) is not None:
                raise errors.already_exists(rtype.group, rtype.plural, name)
            ownership = self._ownership_update(rtype, None, manager, "")
            stored, _ = self.write(rtype, namespace, name, body, ownership, dry_run=dry_run)
            return self.render(rtype, stored)

    def api_replace(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        manager: str,
        dry_run: bool,
        subresource: str = "",
    ) -> JsonDict:
        body = require_object(body)
        with self.lock:
            check_type_meta(rtype, body, required=False)
            check_url_identity(body, name=name, namespace=namespace if rtype.namespaced else None)
            old = self.require(rtype, namespace, name)
            self._check_resource_version(rtype, old, body, name)
            ownership = self._ownership_update(rtype, old, manager, subresource)
            stored, _ = self.write(
                rtype, namespace, name, body, ownership, dry_run=dry_run, subresource=subresource
            )
            return self.render(rtype, stored)

    def _check_resource_version(
        self, rtype: ResourceType, old: StoredObject, body: JsonDict, name: str
    ) -> None:
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != old.obj["metadata"]["resourceVersion"]:
            raise errors.conflict(rtype.group, rtype.plural, name, _MODIFIED)

    def api_patch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        content_type: str,
        *,
        manager: str,
        force: bool,
        dry_run: bool,
        subresource: str = "",
    ) -> tuple[JsonDict, bool]:
        """Returns the resulting object and whether it was created (only apply creates)."""
        with self.lock:
            if content_type == APPLY:
                return self._apply(
                    rtype,
                    namespace,
                    name,
                    require_object(body),
                    manager=manager,
                    force=force,
                    dry_run=dry_run,
                    subresource=subresource,
                )
            old = self.require(rtype, namespace, name)
            current = self.render(rtype, old)
            if content_type == JSON_PATCH:
                patched = json_patch(current, body)
            elif content_type == MERGE:
                patched = merge_patch(current, require_object(body))
            elif content_type == STRATEGIC:
                patched = strategic_merge_patch(current, require_object(body))
            else:  # pragma: no cover - the router rejects other media types first
                raise ApiError(415, f"unsupported patch type {content_type}")
            patched = require_object(patched)
            check_type_meta(rtype, patched, required=True)
            check_url_identity(patched, name=name, namespace=namespace if rtype.namespaced else None)
            if isinstance(body, dict):
                self._check_resource_version(rtype, old, body, name)
            ownership = self._ownership_update(rtype, old, manager, subresource)
            stored, _ = self.write(
                rtype, namespace, name, patched, ownership, dry_run=dry_run, subresource=subresource
            )
            return self.render(rtype, stored), False

    def _apply(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: JsonDict,
        *,
        manager: str,
        force: bool,
        dry_run: bool,
        subresource: str,
    ) -> tuple[JsonDict, bool]:
        check_type_meta(rtype, body, required=True)
        check_url_identity(body, name=name, namespace=namespace if rtype.namespaced else None)
        body_name = (body.get("metadata") or {}).get("name", "")
        if body_name != name:
            raise errors.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        old = self.lookup(rtype, namespace, name)
        if old is None:
            if subresource:
                raise errors.not_found(rtype.group, rtype.plural, name)
            if rtype.namespaced:
                self.require_namespace(namespace or "")
            live: JsonDict = {"metadata": {"name": name}}
            managed: list[ManagedEntry] = []
        else:
            self._check_resource_version(rtype, old, body, name)
            live, managed = old.obj, old.managed
        merged, new_managed = apply(
            live,
            managed,
            body,
            manager=manager,
            api_version=rtype.api_version,
            force=force,
            now=self.now(),
            scope="status" if subresource == "status" else "main",
            has_status=rtype.has_status,
        )
        stored, created = self.write(
            rtype, namespace, name, merged, lambda _: new_managed, dry_run=dry_run, subresource=subresource
        )
        return self.render(rtype, stored), created

    def api_delete(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        *,
        propagation: str | None,
        dry_run: bool,
        preconditions: JsonDict | None = None,
    ) -> JsonDict:
        policy = _policy(propagation)
        with self.lock:
            stored = self.require(rtype, namespace, name)
            _check_preconditions(rtype, stored, preconditions or {}, name)
            snapshot = StoredObject(copy.deepcopy(stored.obj), list(stored.managed))
            gone = True if dry_run else self.delete_stored(rtype, stored, policy)
            return self._delete_response(rtype, stored if not gone else snapshot, gone)

    def _delete_response(self, rtype: ResourceType, stored: StoredObject, gone: bool) -> JsonDict:
        if not gone:
            return self.render(rtype, stored)
        if not rtype.custom and rtype.kind == "Namespace":
            terminating = self.render(rtype, stored)
            terminating["metadata"].setdefault("deletionTimestamp", self.now())
            terminating["status"] = {"phase": "Terminating"}
            return terminating
        if rtype.returns_deleted_object:
            return self.render(rtype, stored)
        details: JsonDict = {"name": stored.obj["metadata"]["name"]}
        if rtype.group:
            details["group"] = rtype.group
        details.update(kind=rtype.plural, uid=stored.obj["metadata"]["uid"])
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def api_delete_collection(
        self,
        rtype: ResourceType,
        namespace: str | None,
        *,
        label_selector: str | None,
        field_selector: str | None,
        propagation: str | None,
        dry_run: bool,
    ) -> JsonDict:
        policy = _policy(propagation)
        with self.lock:
            listing = self.list(
                rtype, namespace, label_selector=label_selector, field_selector=field_selector
            )
            if not dry_run:
                for item in listing["items"]:
                    meta = item["metadata"]
                    stored = self.lookup(rtype, meta.get("namespace"), meta["name"])
                    if stored is not None:
                        self.delete_stored(rtype, stored, policy)
                listing["metadata"] = {"resourceVersion": str(self.resource_version)}
            return listing


def _policy(propagation: str | None) -> str:
    if propagation is None:
        return "Background"
    if propagation not in PROPAGATION_POLICIES:
        raise errors.invalid(
            "DeleteOptions",
            "",
            "",
            [
                Cause(
                    "propagationPolicy",
                    "FieldValueNotSupported",
                    f'Unsupported value: "{propagation}": supported values: '
                    '"Foreground", "Background", "Orphan"',
                )
            ],
        )
    return propagation


def _check_preconditions(rtype: ResourceType, stored: StoredObject, pre: JsonDict, name: str) -> None:
    meta = stored.obj["metadata"]
    if pre.get("uid") and pre["uid"] != meta["uid"]:
        raise errors.conflict(
            rtype.group,
            rtype.plural,
            name,
            f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {meta['uid']}",
        )
    if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
        raise errors.conflict(
            rtype.group,
            rtype.plural,
            name,
            f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
            f"ResourceVersion in object meta: {meta['resourceVersion']}",
        )


def random_suffix(length: int = 5) -> str:
    return "".join(random.choices(_GENERATE_CHARS, k=length))
