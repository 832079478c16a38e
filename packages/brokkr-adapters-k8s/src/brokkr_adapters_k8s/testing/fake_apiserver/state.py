"""The scripting surface tests use to play kubelet and controllers: ``srv.state``.

Everything here is thread-safe (it takes the store lock) and goes through the same write path as
HTTP requests, so resourceVersions, ownership and hooks stay consistent with what clients see.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from . import errors
from .builders import event_manifest, pod_manifest
from .errors import ApiError, JsonDict
from .operations import ApiOperations
from .patches import APPLY, merge_patch
from .resource_types import ResourceType

SCRIPT_MANAGER = "brokkr-fake-script"


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


class ClusterState(ApiOperations):
    """Cluster contents plus scripting helpers (pods, events, logs, status, hooks, timers)."""

    def __init__(
        self, clock: Callable[[], datetime] | None = None, *, list_items_with_type_meta: bool = False
    ):
        self._logs: dict[tuple[str, str, str, bool], str] = {}
        self._timers: list[threading.Timer] = []
        super().__init__(clock, list_items_with_type_meta=list_items_with_type_meta)
        self._delete_observers.append(self._forget_logs)

    # -- types ----------------------------------------------------------------------------------

    def resource_type(self, group: str, kind: str, version: str | None = None) -> ResourceType:
        with self.lock:
            rtype = self.registry.by_kind(group, kind, version)
        if rtype is None:
            raise LookupError(f"no resource type for group {group!r} kind {kind!r}")
        return rtype

    def served_types(self) -> list[ResourceType]:
        with self.lock:
            return self.registry.all()

    # -- hooks and timers -------------------------------------------------------------------------

    def on_create(self, group: str, kind: str, callback: Callable[[ClusterState, JsonDict], None]) -> None:
        """Call ``callback(state, obj)`` after every committed create of that kind (any verb)."""
        with self.lock:
            self._create_hooks.append((group, kind, callback))

    def on_update(self, group: str, kind: str, callback: Callable[[ClusterState, JsonDict], None]) -> None:
        with self.lock:
            self._update_hooks.append((group, kind, callback))

    def schedule(self, delay: float, action: Callable[[], None]) -> threading.Timer:
        """Run ``action`` on a timer thread (e.g. a BuildRun finishing after a while)."""
        timer = threading.Timer(delay, action)
        timer.daemon = True
        with self.lock:
            self._timers.append(timer)
        timer.start()
        return timer

    def close(self) -> None:
        """Cancel pending timers; the server calls this on shutdown."""
        with self.lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()

    # -- generic objects --------------------------------------------------------------------------

    def apply_object(
        self, obj: Mapping[str, Any], *, manager: str = SCRIPT_MANAGER, force: bool = True
    ) -> JsonDict:
        """Server-side apply any object (its kind must be served)."""
        group, version = split_api_version(str(obj.get("apiVersion", "")))
        rtype = self.resource_type(group, str(obj.get("kind", "")), version)
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace", "default") if rtype.namespaced else None
        result, _ = self.api_patch(
            rtype,
            namespace,
            meta.get("name", ""),
            copy.deepcopy(dict(obj)),
            APPLY,
            manager=manager,
            force=force,
            dry_run=False,
        )
        return result

    def get_object(self, group: str, kind: str, name: str, namespace: str | None = None) -> JsonDict | None:
        rtype = self.resource_type(group, kind)
        with self.lock:
            stored = self.lookup(rtype, namespace, name)
            return self.render(rtype, stored) if stored else None

    def list_objects(
        self, group: str, kind: str, namespace: str | None = None, label_selector: str = ""
    ) -> list[JsonDict]:
        rtype = self.resource_type(group, kind)
        with self.lock:
            items: list[JsonDict] = self.list(rtype, namespace, label_selector=label_selector)["items"]
        for item in items:
            item.setdefault("apiVersion", rtype.api_version)
            item.setdefault("kind", rtype.kind)
        return items

    def delete_object(
        self, group: str, kind: str, name: str, namespace: str | None = None, propagation: str = "Background"
    ) -> None:
        rtype = self.resource_type(group, kind)
        self.api_delete(rtype, namespace, name, propagation=propagation, dry_run=False)

    def set_status(
        self,
        group: str,
        kind: str,
        name: str,
        status: Mapping[str, Any],
        *,
        namespace: str | None = None,
        merge: bool = False,
    ) -> JsonDict:
        """Replace (or JSON-merge into) an object's status, as its controller would."""
        rtype = self.resource_type(group, kind)
        with self.lock:
            stored = self.require(rtype, namespace, name)
            current = copy.deepcopy(stored.obj)
            new_status = (
                merge_patch(current.get("status") or {}, dict(status))
                if merge
                else copy.deepcopy(dict(status))
            )
            current["status"] = new_status
            written = self.put(rtype, current, keep_status=False)
            return self.render(rtype, written)

    # -- pods, events, logs ---------------------------------------------------------------------------

    def put_pod(self, namespace: str, name: str, **fields: Any) -> JsonDict:
        """Create or replace a Pod with scripted status; keyword arguments as :func:`pod_manifest`."""
        manifest = pod_manifest(namespace, name, now=self.now(), **fields)
        rtype = self.resource_type("", "Pod")
        with self.lock:
            self.require_namespace(namespace)
            return self.render(rtype, self.put(rtype, manifest, keep_status=False))

    def add_event(
        self,
        namespace: str,
        involved_object: Mapping[str, Any],
        reason: str,
        message: str,
        *,
        type_: str = "Normal",
        count: int = 1,
        first_timestamp: str | None = None,
        last_timestamp: str | None = None,
        name: str | None = None,
        component: str = "kubelet",
    ) -> JsonDict:
        """Record a core/v1 Event about an object (rendered object or ObjectReference dict)."""
        now = self.now()
        manifest = event_manifest(
            namespace,
            involved_object,
            reason,
            message,
            type_=type_,
            count=count,
            first_timestamp=first_timestamp or now,
            last_timestamp=last_timestamp or first_timestamp or now,
            name=name,
            component=component,
        )
        rtype = self.resource_type("", "Event")
        with self.lock:
            self.require_namespace(namespace)
            return self.render(rtype, self.put(rtype, manifest))

    def set_pod_logs(
        self,
        namespace: str,
        pod: str,
        text: str | Sequence[str],
        *,
        container: str = "",
        previous: bool = False,
    ) -> None:
        """Logs served by ``GET .../pods/<pod>/log``; ``container`` "" means the pod's first container."""
        body = text if isinstance(text, str) else "".join(line + "\n" for line in text)
        with self.lock:
            self._logs[(namespace, pod, container, previous)] = body

    def pod_log(
        self,
        namespace: str,
        pod: str,
        *,
        container: str | None = None,
        tail_lines: int | None = None,
        previous: bool = False,
        limit_bytes: int | None = None,
    ) -> str:
        """The log text the API server would return, with its errors for ambiguous requests."""
        with self.lock:
            stored = self.require(self.resource_type("", "Pod"), namespace, pod)
            spec = stored.obj.get("spec") or {}
            names = [c["name"] for c in spec.get("containers") or []]
            init_names = [c["name"] for c in spec.get("initContainers") or []]
            if not container:
                if len(names) != 1:
                    hint = f" or one of the init containers: [{' '.join(init_names)}]" if init_names else ""
                    choices = " ".join(names)
                    raise errors.bad_request(
                        f"a container name must be specified for pod {pod}, choose one of: [{choices}]{hint}"
                    )
                container = names[0]
            if container not in names + init_names:
                raise errors.bad_request(f"container {container} is not valid for pod {pod}")
            text = self._logs.get((namespace, pod, container, previous))
            if text is None and container == (names[:1] or [""])[0]:
                text = self._logs.get((namespace, pod, "", previous))
            if text is None:
                text = self._missing_log(stored.obj, pod, container, previous)
        if tail_lines is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-tail_lines:]) if tail_lines > 0 else ""
        if limit_bytes is not None:
            text = text.encode()[:limit_bytes].decode(errors="ignore")
        return text

    @staticmethod
    def _missing_log(pod_obj: JsonDict, pod: str, container: str, previous: bool) -> str:
        if previous:
            raise errors.bad_request(f'previous terminated container "{container}" in pod "{pod}" not found')
        status = pod_obj.get("status") or {}
        for entry in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
            waiting = (entry.get("state") or {}).get("waiting")
            if entry.get("name") == container and waiting is not None:
                raise errors.bad_request(
                    f'container "{container}" in pod "{pod}" is waiting to start: {waiting.get("reason", "")}'
                )
        return ""

    def _forget_logs(self, store_key: tuple[str, str], obj: JsonDict) -> None:
        if store_key == ("", "pods"):
            meta = obj["metadata"]
            for key in [k for k in self._logs if k[0] == meta.get("namespace") and k[1] == meta["name"]]:
                del self._logs[key]


__all__ = ["SCRIPT_MANAGER", "ApiError", "ClusterState", "split_api_version"]
