"""The ``build`` work type: run a Shipwright build and wait for its outcome.

The order's YAML holds Shipwright ``Build`` documents (applied as they are) and optionally a ``brokkr.io``
``WorkOrder`` document whose ``spec.buildRef.name`` names the build to run (possibly one that already exists
in the cluster). The agent then creates a BuildRun named ``<build>-<first 8 characters of the order id>`` and
follows it until its ``Succeeded`` condition is True (the result is the image digest) or False (the result
is Shipwright's failure reason), or the time-out passes.

A retried order reuses that name. v0.4.0 failed on the existing object; here a BuildRun that is still
running is followed again, one that succeeded gives its result at once, and one that failed is replaced by a
fresh one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

import yaml

from brokkr_domain.errors import BrokkrError, ValidationError
from brokkr_domain.manifests import MAX_MANIFEST_BYTES, KubeObject, ObjectRef
from brokkr_domain.model import WorkOrder
from brokkr_domain.ports.cluster import Cluster, Manifest
from brokkr_domain.ports.system import Clock

SHIPWRIGHT_API_VERSION = "shipwright.io/v1beta1"
WORK_ORDER_ID_LABEL = "brokkr.io/work-order-id"
BUILD_LABEL = "shipwright.io/build"
CRD_MISSING = "Shipwright BuildRun CRD not found in cluster"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class BuildFailedError(BrokkrError):
    """Shipwright reported the BuildRun as failed (or it vanished while being followed)."""

    code = "build_failed"


class _Loader(yaml.SafeLoader):
    """Safe loader that keeps timestamps as text, so values like ``revision: 2024-01-15`` stay JSON."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _documents(text: str) -> list[Mapping[str, Any]]:
    """The mapping documents of the order. Lenient on purpose: the WorkOrder document needs no name."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_MANIFEST_BYTES:
        raise ValidationError(f"YAML content too large (at most {MAX_MANIFEST_BYTES} bytes)")
    try:
        return [doc for doc in yaml.load_all(text, Loader=_Loader) if isinstance(doc, Mapping)]
    except yaml.YAMLError as exc:
        raise ValidationError(f"invalid YAML in build work order: {exc}") from None


def _is(doc: Mapping[str, Any], api_prefix: str, kind: str) -> bool:
    api_version = doc.get("apiVersion")
    return isinstance(api_version, str) and api_version.startswith(api_prefix) and doc.get("kind") == kind


def _field(doc: Mapping[str, Any], *path: str) -> Any:
    value: Any = doc
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _succeeded(build_run: Manifest) -> Mapping[str, Any] | None:
    for condition in _field(build_run, "status", "conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == "Succeeded":
            return condition
    return None


def _failure_text(build_run: Manifest, condition: Mapping[str, Any]) -> str:
    reason = _field(build_run, "status", "failureDetails", "reason")
    message = _field(build_run, "status", "failureDetails", "message")
    if reason or message:
        return f"{reason or 'Failed'}: {message}" if message else str(reason)
    if condition.get("message"):
        return f"{condition.get('reason') or 'Failed'}: {condition['message']}"
    return "Build failed"


class BuildRunner:
    """Runs ``build`` orders; ``sleep`` and ``clock`` are injected so tests need not wait."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        clock: Clock,
        sleep: Callable[[float], None],
        poll_interval_seconds: float = 5.0,
        timeout_seconds: float = 900.0,
    ) -> None:
        self._cluster = cluster
        self._clock = clock
        self._sleep = sleep
        self._interval = poll_interval_seconds
        self._timeout = timeout_seconds

    def run(self, order: WorkOrder) -> str:
        """Apply the builds, start (or reuse) the BuildRun and return the image digest (may be empty)."""
        docs = _documents(order.yaml_content)
        builds = [KubeObject.from_manifest(doc) for doc in docs if _is(doc, "shipwright.io", "Build")]
        ref_doc = next((doc for doc in docs if _is(doc, "brokkr.io", "WorkOrder")), None)
        build_name, namespace = self._target(builds, ref_doc)
        try:
            self._cluster.is_namespaced(SHIPWRIGHT_API_VERSION, "BuildRun")
        except ValidationError:
            raise ValidationError(CRD_MISSING) from None
        for build in builds:
            self._cluster.apply(build)
        run_ref = ObjectRef(
            SHIPWRIGHT_API_VERSION, "BuildRun", namespace, f"{build_name}-{str(order.id)[:8]}"
        )
        self._start(run_ref, build_name, order.id)
        return self._follow(run_ref)

    @staticmethod
    def _target(builds: Sequence[KubeObject], ref_doc: Mapping[str, Any] | None) -> tuple[str, str]:
        """The build to run and its namespace: ``spec.buildRef.name`` if given, else the first Build."""
        wanted = _field(ref_doc, "spec", "buildRef", "name") if ref_doc is not None else None
        if wanted is not None and not isinstance(wanted, str):
            raise ValidationError("spec.buildRef.name of the WorkOrder document must be a string")
        name = wanted or (builds[0].name if builds else None)
        if not name:
            raise ValidationError(
                "build work order names no build: add a Shipwright Build or spec.buildRef.name"
            )
        build = next((b for b in builds if b.name == name), builds[0] if builds else None)
        namespace = build.namespace if build is not None else _field(ref_doc or {}, "metadata", "namespace")
        return name, namespace if isinstance(namespace, str) and namespace else "default"

    def _start(self, run_ref: ObjectRef, build_name: str, order_id: UUID) -> None:
        existing = self._cluster.get(run_ref)
        if existing is not None:
            condition = _succeeded(existing)
            if condition is None or condition.get("status") != "False":
                return  # still running, or already succeeded: follow it
            self._cluster.delete(run_ref)
            self._wait_gone(run_ref)
        body = {
            "apiVersion": SHIPWRIGHT_API_VERSION,
            "kind": "BuildRun",
            "metadata": {
                "name": run_ref.name,
                "namespace": run_ref.namespace,
                "labels": {WORK_ORDER_ID_LABEL: str(order_id), BUILD_LABEL: build_name},
            },
            "spec": {"build": {"name": build_name}},
        }
        self._cluster.apply(KubeObject.from_manifest(body))

    def _wait_gone(self, run_ref: ObjectRef) -> None:
        """A deleted object may linger while finalizers run; re-creating it before it is gone would fail."""
        deadline = self._clock.now() + timedelta(seconds=self._timeout)
        while self._cluster.get(run_ref) is not None:
            if self._clock.now() >= deadline:
                raise BuildFailedError(f"Timeout waiting for the failed BuildRun {run_ref} to be deleted")
            self._sleep(self._interval)

    def _follow(self, run_ref: ObjectRef) -> str:
        deadline = self._clock.now() + timedelta(seconds=self._timeout)
        while True:
            live = self._cluster.get(run_ref)
            if live is None:
                raise BuildFailedError(f"BuildRun {run_ref} disappeared before it finished")
            condition = _succeeded(live)
            status = condition.get("status") if condition is not None else None
            if condition is not None and status == "True":
                digest = _field(live, "status", "output", "digest")
                return digest if isinstance(digest, str) else ""
            if condition is not None and status == "False":
                raise BuildFailedError(_failure_text(live, condition))
            if self._clock.now() >= deadline:
                raise BuildFailedError(
                    f"Timeout: BuildRun {run_ref} did not finish within {self._timeout:g} s"
                )
            self._sleep(self._interval)


__all__ = [
    "BUILD_LABEL",
    "CRD_MISSING",
    "SHIPWRIGHT_API_VERSION",
    "WORK_ORDER_ID_LABEL",
    "BuildFailedError",
    "BuildRunner",
]
