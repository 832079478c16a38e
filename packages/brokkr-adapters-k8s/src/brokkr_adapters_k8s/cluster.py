"""``KubernetesCluster``: the domain's ``Cluster`` port over the official ``kubernetes`` client.

Everything goes through three pieces: a ``Transport`` (one retried HTTP call, errors already translated to
domain errors), a ``Discovery`` cache (kind → URL and scope) and the JSON the API server sends, returned as is
(camelCase, ``managedFields`` included) so the domain reads exactly what ``kubectl get -o json`` would show.

Writes are server-side apply with one field manager and ``force=true``: the agent is the authority for the
fields it applies, fields other managers own (an HPA's ``replicas``, a controller's annotations) stay theirs,
and a field the agent stops sending is removed. Dry runs are the same request with ``dryRun=All``.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import urllib3
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.rest import RESTClientObject

from brokkr_adapters_k8s import config as kubeconfig
from brokkr_adapters_k8s.discovery import ApiResource, Discovery
from brokkr_adapters_k8s.retry import Retrier, RetryPolicy
from brokkr_adapters_k8s.transport import APPLY_PATCH, JSON, Transport
from brokkr_domain.errors import (
    ForbiddenError,
    NotFoundError,
    TransientError,
    ValidationError,
)
from brokkr_domain.manifests import KubeObject, ObjectRef
from brokkr_domain.ports.cluster import Manifest

log = logging.getLogger("brokkr.k8s")
T = TypeVar("T")

DEFAULT_FIELD_MANAGER = "brokkr-agent"
DEFAULT_NAMESPACE = "default"
PAGE_SIZE = 500
PROPAGATION_POLICIES = frozenset({"Background", "Foreground", "Orphan"})


class KubernetesCluster:
    """A real cluster behind the ``Cluster`` port. Thread-safe; ``close()`` releases its connections.

    Build it with ``from_kubeconfig`` (or ``from_configuration`` for an existing client configuration).
    ``clock``/``sleep`` drive the retry backoff and the discovery TTL, so tests can run them instantly.
    """

    def __init__(
        self,
        api_client: ApiClient,
        *,
        field_manager: str = DEFAULT_FIELD_MANAGER,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        discovery_ttl: float | None = 600.0,
        timeout: tuple[float, float] = (10.0, 60.0),
        page_size: int = PAGE_SIZE,
    ) -> None:
        if not field_manager or len(field_manager) > 128:
            raise ValueError("field_manager must be 1 to 128 characters")
        self.field_manager = field_manager
        self.retry = retry if retry is not None else RetryPolicy()
        api_client.user_agent = f"{field_manager} (brokkr-adapters-k8s)"
        _own_the_retries(api_client)
        self.transport = Transport(api_client, Retrier(self.retry, clock=clock, sleep=sleep), timeout=timeout)
        self.page_size = page_size
        self.discovery = Discovery(self.transport, ttl=discovery_ttl, clock=clock)

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        context: str | None = None,
        field_manager: str = DEFAULT_FIELD_MANAGER,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        discovery_ttl: float | None = 600.0,
        timeout: tuple[float, float] = (10.0, 60.0),
        page_size: int = PAGE_SIZE,
    ) -> KubernetesCluster:
        """From a kubeconfig file; ``None``: in-cluster config, else ``$KUBECONFIG`` / ``~/.kube/config``.

        Reads configuration only; the API server is first contacted by the first call. A missing or
        unusable configuration raises ``ValidationError`` (code ``kubernetes_config``).
        """
        return cls.from_configuration(
            kubeconfig.discover(path, context),
            field_manager=field_manager,
            retry=retry,
            clock=clock,
            sleep=sleep,
            discovery_ttl=discovery_ttl,
            timeout=timeout,
            page_size=page_size,
        )

    @classmethod
    def from_configuration(cls, configuration: Configuration, **options: Any) -> KubernetesCluster:
        """From a ``kubernetes.client.Configuration``; ``options`` as for the constructor."""
        return cls(ApiClient(configuration), **options)

    def close(self) -> None:
        closer: Callable[[], None] = self.transport.api_client.close
        closer()

    def __enter__(self) -> KubernetesCluster:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def invalidate_discovery(self) -> None:
        """Read discovery again on the next call (after installing or removing API extensions)."""
        self.discovery.invalidate()

    # ------------------------------------------------------------------------------------------ the port

    def server_version(self) -> str:
        info = self.transport.json("GET", "/version", "server version")
        version = info.get("gitVersion") if isinstance(info, dict) else None
        if not isinstance(version, str) or not version:
            raise TransientError("the Kubernetes API server did not report its version")
        return version

    def is_namespaced(self, api_version: str, kind: str) -> bool:
        return self.discovery.resolve(api_version, kind).namespaced

    def apply(self, obj: KubeObject, *, dry_run: bool = False) -> Manifest:
        what = f"{'dry-run ' if dry_run else ''}apply {obj.ref}"
        query = [("fieldManager", self.field_manager), ("force", "true")]
        if dry_run:
            query.append(("dryRun", "All"))

        def send(res: ApiResource) -> Manifest:
            body = copy.deepcopy(obj.body)
            metadata = body.setdefault("metadata", {})
            namespace = _namespace_for(res, obj.namespace)
            if namespace is None:
                metadata.pop("namespace", None)
            else:
                metadata["namespace"] = namespace
            path = res.path(namespace, obj.name)
            try:
                return _object(
                    self.transport.json("PATCH", path, what, query=query, body=body, content_type=APPLY_PATCH)
                )
            except NotFoundError as exc:
                if exc.details.get("name") is None:
                    raise  # the URL: a kind no longer served; _with_resource refreshes discovery
                raise ValidationError(f"{obj.ref}: {exc.message}", details=exc.details) from None

        return self._with_resource(obj.api_version, obj.kind, send)

    def get(self, ref: ObjectRef) -> Manifest | None:
        def fetch(res: ApiResource) -> Manifest | None:
            try:
                found = self.transport.json(
                    "GET", res.path(_namespace_for(res, ref.namespace), ref.name), f"get {ref}"
                )
            except NotFoundError as exc:
                if exc.details.get("name") is None:
                    raise
                return None
            return _object(found)

        return self._with_resource(ref.api_version, ref.kind, fetch)

    def delete(self, ref: ObjectRef, *, propagation: str = "Background") -> bool:
        if propagation not in PROPAGATION_POLICIES:
            raise ValidationError(
                f"propagation must be one of {sorted(PROPAGATION_POLICIES)}, not {propagation!r}"
            )
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}

        def remove(res: ApiResource) -> bool:
            path = res.path(_namespace_for(res, ref.namespace), ref.name)
            try:
                self.transport.json("DELETE", path, f"delete {ref}", body=options, content_type=JSON)
            except NotFoundError as exc:
                if exc.details.get("name") is None:
                    raise
                return False
            return True

        return self._with_resource(ref.api_version, ref.kind, remove)

    def list_by_labels(self, label_selector: str) -> list[Manifest]:
        """Every listable kind in all namespaces; kinds we may not list (403/404/405) are skipped."""
        self.discovery.listable()  # loads discovery, or refreshes it once its TTL has passed
        self._check_discovery_complete()
        resources = self.discovery.listable()
        found: list[Manifest] = []
        seen: set[str] = set()
        for res in resources:
            try:
                items = list(
                    self._list(res, None, f"list {res.plural}.{res.group or 'core'}", label_selector)
                )
            except (ForbiddenError, NotFoundError):
                continue
            except ValidationError as exc:
                if exc.details.get("status") == 405:
                    continue
                raise
            for item in items:
                uid = (item.get("metadata") or {}).get("uid")
                if isinstance(uid, str) and uid:
                    if uid in seen:  # the same object served by another group (events, events.k8s.io)
                        continue
                    seen.add(uid)
                found.append(item)
        return found

    def list_pods(self, namespace: str, label_selector: Mapping[str, str] | None = None) -> list[Manifest]:
        selector = ",".join(f"{key}={value}" for key, value in (label_selector or {}).items())
        pods = self.discovery.resolve("v1", "Pod")
        return list(self._list(pods, namespace, f"list pods in {namespace}", selector))

    def list_events(self, namespace: str, *, involved_name: str | None = None) -> list[Manifest]:
        events = self.discovery.resolve("v1", "Event")
        fields = f"involvedObject.name={_field_value(involved_name)}" if involved_name is not None else ""
        return list(self._list(events, namespace, f"list events in {namespace}", "", fields))

    def pod_log_tail(self, namespace: str, pod: str, container: str, lines: int) -> str:
        pods = self.discovery.resolve("v1", "Pod")
        query = [("container", container), ("tailLines", str(max(lines, 0)))]
        data = self.transport.raw(
            "GET",
            pods.path(namespace, pod, "log"),
            f"logs of {namespace}/{pod}/{container}",
            query=query,
            accept="*/*",
        )
        return data.decode("utf-8", "replace")

    # ------------------------------------------------------------------------------------------ internals

    def _with_resource(self, api_version: str, kind: str, call: Callable[[ApiResource], T]) -> T:
        """Resolve the kind and call; if its URL is gone (a deleted CRD), refresh discovery once and retry."""
        res = self.discovery.resolve(api_version, kind)
        try:
            return call(res)
        except NotFoundError:
            self.discovery.forget(res.api_version)
        return call(self.discovery.resolve(api_version, kind))

    def _list(
        self,
        res: ApiResource,
        namespace: str | None,
        what: str,
        label_selector: str = "",
        field_selector: str = "",
    ) -> Iterator[Manifest]:
        """All items of a collection, page by page, each with its ``apiVersion`` and ``kind`` filled in."""
        query = [("limit", str(self.page_size))]
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        token = ""
        while True:
            page = self.transport.json(
                "GET", res.path(namespace), what, query=query + ([("continue", token)] if token else [])
            )
            for item in (page or {}).get("items") or []:
                if isinstance(item, dict):
                    item.setdefault("apiVersion", res.api_version)
                    item.setdefault("kind", res.kind)
                    yield item
            token = ((page or {}).get("metadata") or {}).get("continue") or ""
            if not token:
                return

    def _check_discovery_complete(self) -> None:
        """Refuse to answer "everything with these labels" from a partial view of the kinds.

        A group version that answers 503 is an aggregated API whose service is down (metrics-server, say): it
        is skipped with a warning, as kubectl and the namespace controller do. Any other discovery failure
        would hide objects from pruning decisions, so it fails the call instead.
        """
        if not self.discovery.unavailable():
            return
        self.discovery.retry_unavailable()
        for gv, exc in self.discovery.unavailable().items():
            if exc.details.get("status") == 503:
                log.warning("skipping %s, its API is unavailable: %s", gv, exc.message)
                continue
            raise TransientError(
                f"cannot list every kind: discovery of {gv} failed: {exc.message}", details=exc.details
            )


def _own_the_retries(api_client: ApiClient) -> None:
    """Leave every status-based retry to ``RetryPolicy``.

    By default urllib3 repeats a GET answered 429/503 with a ``Retry-After`` header by itself, sleeping for
    as long as the server asks (uncapped, with the real clock, invisible to our policy and our logs). Its
    pool keeps connection retries, which cure a pooled keep-alive connection the server has closed.
    """
    configuration = api_client.configuration
    if configuration.retries is None:
        configuration.retries = urllib3.util.Retry(
            total=3, connect=3, read=1, redirect=0, status=0, respect_retry_after_header=False
        )
        api_client.rest_client = RESTClientObject(configuration)


def _namespace_for(res: ApiResource, namespace: str | None) -> str | None:
    """Namespaced kinds default to ``default``; a namespace given for a cluster-scoped kind is ignored."""
    return (namespace or DEFAULT_NAMESPACE) if res.namespaced else None


def _object(found: Any) -> Manifest:
    if not isinstance(found, dict):
        raise TransientError("the Kubernetes API server answered with something that is not an object")
    return found


def _field_value(value: str) -> str:
    """Escape a field-selector value (``\\``, ``,`` and ``=`` are special)."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


__all__ = ["DEFAULT_FIELD_MANAGER", "KubernetesCluster"]
