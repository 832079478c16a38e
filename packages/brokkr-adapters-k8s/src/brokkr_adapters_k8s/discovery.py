"""Which kinds the API server serves, where, and whether they live in namespaces — cached per process.

Discovery is read from the legacy endpoints every client understands (``/api``, ``/api/v1``, ``/apis``,
``/apis/<group>/<version>``) and kept in memory by this object alone: no shared file cache keyed by host that
another process, or a later cluster on the same address, could read stale.

The cache is refreshed where it can be wrong:

- a miss (a kind applied right after its CRD) refetches just that group version, one GET, and only then
  reports the kind as unknown;
- a 404 for the URL of a cached kind (its CRD was deleted) drops the group version (``forget``);
- after ``ttl`` seconds everything is read again, so CRDs installed by others show up in ``listable``;
- ``invalidate()`` forces a full refresh.

A group version whose discovery fails (typically an aggregated API such as ``metrics.k8s.io`` whose backing
service is down: 503) does not break the rest; it is remembered as unavailable, and retried on the next
full refresh or miss.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from brokkr_adapters_k8s.retry import Retrier, RetryPolicy
from brokkr_adapters_k8s.transport import Transport
from brokkr_domain.errors import BrokkrError, ForbiddenError, NotFoundError, ValidationError


@dataclass(frozen=True)
class ApiResource:
    """One served resource (never a subresource) of one group version."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: frozenset[str]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def listable(self) -> bool:
        return "list" in self.verbs

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str = "") -> str:
        """URL path of the collection (``name`` None) or of one object; ``namespace`` None lists all."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name, safe='')}"
            if subresource:
                base += f"/{subresource}"
        return base


def gv_path(api_version: str) -> str:
    group, _, version = api_version.rpartition("/")
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def parse_resource_list(api_version: str, doc: Any) -> list[ApiResource]:
    """The resources of an ``APIResourceList``, subresources (``pods/log``) left out."""
    group, _, version = api_version.rpartition("/")
    found: list[ApiResource] = []
    for entry in (doc or {}).get("resources") or []:
        name = entry.get("name") if isinstance(entry, dict) else None
        kind = entry.get("kind") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not isinstance(kind, str) or "/" in name or not name:
            continue
        found.append(
            ApiResource(
                group=entry.get("group") or group,
                version=entry.get("version") or version,
                plural=name,
                kind=kind,
                namespaced=bool(entry.get("namespaced")),
                verbs=frozenset(v for v in entry.get("verbs") or [] if isinstance(v, str)),
            )
        )
    return found


QUICK_RETRY = RetryPolicy(initial=0.5, max_interval=2.0, max_elapsed=5.0)


class Discovery:
    """The in-memory discovery cache of one ``KubernetesCluster``; thread-safe."""

    def __init__(
        self,
        transport: Transport,
        *,
        ttl: float | None = 600.0,
        clock: Callable[[], float] = time.monotonic,
        group_version_retry: RetryPolicy = QUICK_RETRY,
    ) -> None:
        self._transport = transport
        # A full refresh must not hang for minutes on one broken aggregated API: its group versions get a
        # short retry budget; a kind that is actually needed is refetched under the full policy.
        self._quick = transport.with_retrier(
            Retrier(group_version_retry, clock=transport.retrier.clock, sleep=transport.retrier.sleep)
        )
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.RLock()
        self._resources: dict[str, list[ApiResource]] = {}  # group version -> resources
        self._order: list[str] = []  # group versions: core first, each group's preferred version first
        self._unavailable: dict[str, BrokkrError] = {}
        self._loaded_at: float | None = None
        self.refreshes = 0  # full refreshes so far (observable in tests)

    # ------------------------------------------------------------------------------------------ queries

    def resolve(self, api_version: str, kind: str) -> ApiResource:
        """The resource serving ``kind`` at ``api_version``; ``ValidationError`` if the server has none."""
        with self._lock:
            self._ensure_loaded()
            found = self._find(api_version, kind)
            if found is None:
                self._fetch(api_version, strict=True)
                found = self._find(api_version, kind)
        if found is None:
            raise ValidationError(
                f'no matches for kind "{kind}" in version "{api_version}"',
                code="unknown_kind",
                details={"api_version": api_version, "kind": kind},
            )
        return found

    def listable(self) -> list[ApiResource]:
        """Every listable resource once: a group's preferred version first, other versions only for
        resources the preferred one lacks; core first."""
        with self._lock:
            self._ensure_loaded()
            seen: set[tuple[str, str]] = set()
            result: list[ApiResource] = []
            for gv in self._order:
                for res in self._resources.get(gv, []):
                    if res.listable and (res.group, res.plural) not in seen:
                        seen.add((res.group, res.plural))
                        result.append(res)
            return result

    def unavailable(self) -> dict[str, BrokkrError]:
        """Group versions whose discovery failed at the last attempt, with the error."""
        with self._lock:
            return dict(self._unavailable)

    # ------------------------------------------------------------------------------------------ refresh

    def invalidate(self) -> None:
        """Forget everything; the next query reads discovery again."""
        with self._lock:
            self._loaded_at = None

    def forget(self, api_version: str) -> None:
        """Drop one group version (its URLs answered 404); it is refetched on the next miss."""
        with self._lock:
            self._resources.pop(api_version, None)

    def retry_unavailable(self) -> None:
        """Fetch the group versions that failed before once more."""
        with self._lock:
            for gv in list(self._unavailable):
                self._fetch(gv, strict=False)

    def _ensure_loaded(self) -> None:
        now = self._clock()
        if self._loaded_at is not None and (self._ttl is None or now - self._loaded_at < self._ttl):
            return
        core = self._transport.json("GET", "/api", "discovery of /api")
        groups = self._transport.json("GET", "/apis", "discovery of /apis")
        order = [str(v) for v in (core or {}).get("versions") or []]
        for group in (groups or {}).get("groups") or []:
            versions = [v.get("groupVersion") for v in group.get("versions") or [] if isinstance(v, dict)]
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            order.extend(gv for gv in _preferred_first(versions, preferred) if isinstance(gv, str))
        self._resources, self._unavailable = {}, {}
        self._order = order
        for gv in order:
            self._fetch(gv, strict=False)
        self._loaded_at = now
        self.refreshes += 1

    def _fetch(self, api_version: str, *, strict: bool) -> None:
        """(Re)read one group version. ``strict``: a failure other than 404 propagates."""
        transport = self._transport if strict else self._quick
        try:
            doc = transport.json("GET", gv_path(api_version), f"discovery of {api_version}")
        except (NotFoundError, ForbiddenError):
            self._resources.pop(api_version, None)
            self._unavailable.pop(api_version, None)
            return
        except BrokkrError as exc:
            self._unavailable[api_version] = exc
            if strict:
                raise
            return
        self._unavailable.pop(api_version, None)
        self._resources[api_version] = parse_resource_list(api_version, doc)
        if api_version not in self._order:
            self._order.append(api_version)

    def _find(self, api_version: str, kind: str) -> ApiResource | None:
        for res in self._resources.get(api_version, []):
            if res.kind == kind:
                return res
        return None


def _preferred_first(versions: Iterable[Any], preferred: Any) -> list[Any]:
    items = list(versions)
    if preferred in items:
        items.remove(preferred)
        items.insert(0, preferred)
    return items


__all__ = ["QUICK_RETRY", "ApiResource", "Discovery", "gv_path", "parse_resource_list"]
