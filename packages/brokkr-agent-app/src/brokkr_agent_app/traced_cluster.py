"""``TracedCluster``: the ``Cluster`` port with a CLIENT span ``k8s <method>`` around every call.

Wrapping the port, rather than instrumenting the Kubernetes client, keeps the spans meaningful (one span per
apply, get or listing the agent asked for; the adapter's own discovery and retries fall inside it) and lets
the agent trace any cluster it is handed. Only the runtime wraps, and only with tracing on.

Attributes say what was touched, never what it holds: API version, kind, namespace, dry-run, found/deleted
and object counts. Object names, bodies, label selectors, pod names and log lines stay out (a Secret's name
can say what it protects, and its body is the secret); a failed call keeps only its exception type, because
an API server rejecting an object may quote the offending value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from brokkr_agent_app.tracing import client_span
from brokkr_domain.manifests import KubeObject, ObjectRef
from brokkr_domain.ports.cluster import Cluster, Manifest

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

NAMESPACE = "k8s.namespace.name"
KIND = "brokkr.k8s.kind"
API_VERSION = "brokkr.k8s.api_version"
COUNT = "brokkr.k8s.object_count"


def _ref_attributes(api_version: str, kind: str, namespace: str | None) -> dict[str, str | int | bool]:
    attributes: dict[str, str | int | bool] = {API_VERSION: api_version, KIND: kind}
    if namespace is not None:
        attributes[NAMESPACE] = namespace
    return attributes


class TracedCluster:
    """Delegates every ``Cluster`` method to ``inner``; results and exceptions pass through unchanged."""

    def __init__(self, inner: Cluster, tracer: Tracer) -> None:
        self.inner = inner
        self._tracer = tracer

    @contextmanager
    def _span(self, method: str, attributes: Mapping[str, str | int | bool] | None = None) -> Iterator[Span]:
        with client_span(self._tracer, f"k8s {method}", attributes or {}, detail=False) as span:
            yield span

    def server_version(self) -> str:
        with self._span("server_version"):
            return self.inner.server_version()

    def is_namespaced(self, api_version: str, kind: str) -> bool:
        with self._span("is_namespaced", _ref_attributes(api_version, kind, None)):
            return self.inner.is_namespaced(api_version, kind)

    def apply(self, obj: KubeObject, *, dry_run: bool = False) -> Manifest:
        attributes = _ref_attributes(obj.api_version, obj.kind, obj.namespace)
        attributes["brokkr.k8s.dry_run"] = dry_run
        with self._span("apply", attributes):
            return self.inner.apply(obj, dry_run=dry_run)

    def get(self, ref: ObjectRef) -> Manifest | None:
        with self._span("get", _ref_attributes(ref.api_version, ref.kind, ref.namespace)) as span:
            live = self.inner.get(ref)
            span.set_attribute("brokkr.k8s.found", live is not None)
            return live

    def list_by_labels(self, label_selector: str) -> list[Manifest]:
        with self._span("list_by_labels") as span:
            found = self.inner.list_by_labels(label_selector)
            span.set_attribute(COUNT, len(found))
            return found

    def delete(self, ref: ObjectRef, *, propagation: str = "Background") -> bool:
        attributes = _ref_attributes(ref.api_version, ref.kind, ref.namespace)
        attributes["brokkr.k8s.propagation"] = propagation
        with self._span("delete", attributes) as span:
            deleted = self.inner.delete(ref, propagation=propagation)
            span.set_attribute("brokkr.k8s.deleted", deleted)
            return deleted

    def list_pods(self, namespace: str, label_selector: Mapping[str, str] | None = None) -> list[Manifest]:
        with self._span("list_pods", {NAMESPACE: namespace}) as span:
            pods = self.inner.list_pods(namespace, label_selector)
            span.set_attribute(COUNT, len(pods))
            return pods

    def list_events(self, namespace: str, *, involved_name: str | None = None) -> list[Manifest]:
        with self._span("list_events", {NAMESPACE: namespace}) as span:
            events = self.inner.list_events(namespace, involved_name=involved_name)
            span.set_attribute(COUNT, len(events))
            return events

    def pod_log_tail(self, namespace: str, pod: str, container: str, lines: int) -> str:
        with self._span("pod_log_tail", {NAMESPACE: namespace, "brokkr.k8s.log_lines": lines}):
            return self.inner.pod_log_tail(namespace, pod, container, lines)
