"""The cluster side of the agent's end-to-end tests, behind one small interface with two implementations.

- ``ApiServerCluster``: the real ``KubernetesCluster`` adapter talking HTTP to the fake Kubernetes API server
  (``brokkr_adapters_k8s.testing.FakeApiServer``): what the agent does in production, minus a real cluster;
- ``InMemoryCluster``: the domain's ``FakeCluster``, used while the adapter is not available.

Tests script pods, events, logs, Shipwright BuildRun outcomes and API-server faults through these helpers so
they read the same whichever cluster runs underneath.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from brokkr_domain.errors import TransientError
from brokkr_domain.manifests import ObjectRef
from brokkr_domain.ports import Cluster
from brokkr_domain.testing.fake_cluster import FakeCluster

Manifest = dict[str, Any]


def _crd(group: str, kind: str, plural: str, version: str = "v1beta1") -> Manifest:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                    "subresources": {"status": {}},
                }
            ],
        },
    }


SHIPWRIGHT_CRDS = (_crd("shipwright.io", "Build", "builds"), _crd("shipwright.io", "BuildRun", "buildruns"))


def container(name: str, *, waiting: str | None = None, ready: bool = True, restarts: int = 0) -> Manifest:
    state: Manifest = (
        {"waiting": {"reason": waiting, "message": f"{waiting} for {name}"}} if waiting else {"running": {}}
    )
    return {
        "name": name,
        "image": "registry.example/app:1",
        "imageID": "registry.example/app@sha256:" + "0" * 64,
        "ready": ready and not waiting,
        "restartCount": restarts,
        "started": not waiting,
        "state": state,
    }


def pod(namespace: str, name: str, labels: dict[str, str], statuses: Sequence[Manifest]) -> Manifest:
    ready = all(s["ready"] for s in statuses)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": s["name"], "image": s["image"]} for s in statuses]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": list(statuses),
        },
    }


class ClusterHarness(Protocol):
    name: str

    @property
    def cluster(self) -> Cluster: ...
    def live(self, ref: ObjectRef) -> Manifest | None: ...
    def put(self, manifest: Manifest) -> None: ...
    def set_status(self, ref: ObjectRef, status: Manifest) -> None: ...
    def add_event(self, namespace: str, involved: Manifest, reason: str, message: str) -> None: ...
    def set_logs(self, namespace: str, pod: str, container: str, text: str) -> None: ...
    def fail_next(self, count: int, path_regex: str = ".*", method: str | None = None) -> None: ...
    def go_down(self, path_regex: str = ".*", method: str | None = None) -> None: ...
    def come_back(self) -> None: ...
    def kubeconfig(self, directory: Path) -> str | None: ...
    def build_runs(self) -> list[Manifest]: ...


FAILED_BUILD = {"conditions": [{"type": "Succeeded", "status": "False", "reason": "TestTeardown"}]}


def finish_build_runs(harness: ClusterHarness) -> None:
    """Fail every BuildRun still running, so an agent stopping after a failed test need not follow it for
    the 15 minutes of a build's time-out."""
    for run in harness.build_runs():
        conditions = (run.get("status") or {}).get("conditions") or []
        if not any(c.get("type") == "Succeeded" and c.get("status") in ("True", "False") for c in conditions):
            meta = run["metadata"]
            harness.set_status(
                ObjectRef(run["apiVersion"], "BuildRun", meta["namespace"], meta["name"]), FAILED_BUILD
            )


class InMemoryCluster:
    """The domain's ``FakeCluster``: faults are raised as ``TransientError`` directly (no adapter retries)."""

    name = "in-memory"

    def __init__(self) -> None:
        self.fake = FakeCluster()
        self._down = False

    @property
    def cluster(self) -> Cluster:
        return self.fake

    def live(self, ref: ObjectRef) -> Manifest | None:
        return next(
            (
                o
                for o in self.fake.objects()
                if o["kind"] == ref.kind
                and o["apiVersion"] == ref.api_version
                and o["metadata"]["name"] == ref.name
                and o["metadata"].get("namespace") == ref.namespace
            ),
            None,
        )

    def put(self, manifest: Manifest) -> None:
        self.fake.put(manifest)

    def set_status(self, ref: ObjectRef, status: Manifest) -> None:
        live = self.live(ref)
        assert live is not None, f"{ref} does not exist"
        self.fake.put({**live, "status": status})

    def add_event(self, namespace: str, involved: Manifest, reason: str, message: str) -> None:
        ref = ObjectRef(involved["apiVersion"], involved["kind"], namespace, involved["metadata"]["name"])
        self.fake.add_event(namespace, ref, reason=reason, message=message, event_type="Warning")

    def set_logs(self, namespace: str, pod: str, container: str, text: str) -> None:
        self.fake.set_logs(namespace, pod, container, text)

    def fail_next(self, count: int, path_regex: str = ".*", method: str | None = None) -> None:
        del path_regex
        operations = {"apply", "dry_run"} if method in ("PATCH", None) else None
        self.fake.fail_next(count, operations=operations)

    def go_down(self, path_regex: str = ".*", method: str | None = None) -> None:
        del path_regex
        operations = {"apply", "dry_run"} if method == "PATCH" else None
        self.fake.fail_next(
            10_000, error=TransientError("the API server is unavailable"), operations=operations
        )

    def come_back(self) -> None:
        self.fake._faults.clear()

    def kubeconfig(self, directory: Path) -> str | None:
        return None

    def build_runs(self) -> list[Manifest]:
        return [o for o in self.fake.objects() if o["kind"] == "BuildRun"]


def kubernetes_adapter_available() -> bool:
    """Whether ``brokkr_adapters_k8s.KubernetesCluster`` exists yet (it is being written in parallel)."""
    if importlib.util.find_spec("brokkr_adapters_k8s") is None:
        return False
    import brokkr_adapters_k8s

    return hasattr(brokkr_adapters_k8s, "KubernetesCluster")


class ApiServerCluster:
    """``KubernetesCluster`` over HTTP to ``FakeApiServer``; faults are real 503s the adapter must retry."""

    name = "api-server"

    def __init__(self, server: Any, kubeconfig_path: Path) -> None:
        from brokkr_adapters_k8s import KubernetesCluster, RetryPolicy

        self.server = server
        self.kubeconfig_path = kubeconfig_path
        # The production policy waits 1 s, 2 s, 4 s ... for up to 5 minutes; the same shape, faster, for tests.
        fast = RetryPolicy(initial=0.05, multiplier=2.0, max_interval=0.2, max_elapsed=2.0)
        self._cluster: Cluster = KubernetesCluster.from_kubeconfig(
            str(kubeconfig_path), field_manager="brokkr-agent", retry=fast
        )

    @property
    def cluster(self) -> Cluster:
        return self._cluster

    @staticmethod
    def _split(api_version: str) -> tuple[str, str]:
        group, _, version = api_version.rpartition("/")
        return group, version

    def live(self, ref: ObjectRef) -> Manifest | None:
        group, _ = self._split(ref.api_version)
        try:
            found: Manifest | None = self.server.state.get_object(group, ref.kind, ref.name, ref.namespace)
        except LookupError:  # the kind is not served (its CRD is gone)
            return None
        return found

    def put(self, manifest: Manifest) -> None:
        if manifest["kind"] == "Pod":
            meta, status = manifest["metadata"], manifest["status"]
            self.server.state.put_pod(
                meta["namespace"],
                meta["name"],
                labels=meta.get("labels"),
                container_statuses=status["containerStatuses"],
                phase=status.get("phase", "Running"),
            )
        else:
            self.server.state.apply_object(manifest)

    def set_status(self, ref: ObjectRef, status: Manifest) -> None:
        group, _ = self._split(ref.api_version)
        self.server.state.set_status(group, ref.kind, ref.name, status, namespace=ref.namespace)

    def add_event(self, namespace: str, involved: Manifest, reason: str, message: str) -> None:
        self.server.state.add_event(namespace, involved, reason, message, type_="Warning")

    def set_logs(self, namespace: str, pod: str, container: str, text: str) -> None:
        self.server.state.set_pod_logs(namespace, pod, text, container=container)

    def fail_next(self, count: int, path_regex: str = ".*", method: str | None = None) -> None:
        self.server.faults.add(path_regex, 503, times=count, method=method)

    def go_down(self, path_regex: str = ".*", method: str | None = None) -> None:
        self.server.faults.add(path_regex, 503, times=None, method=method)

    def come_back(self) -> None:
        self.server.faults.clear()

    def kubeconfig(self, directory: Path) -> str | None:
        return str(self.kubeconfig_path)

    def build_runs(self) -> list[Manifest]:
        try:
            runs: list[Manifest] = self.server.state.list_objects("shipwright.io", "BuildRun")
        except LookupError:  # Shipwright not installed
            return []
        return runs


@contextmanager
def cluster_harness(kind: str, directory: Path) -> Iterator[ClusterHarness]:
    if kind == "in-memory":
        yield InMemoryCluster()
        return
    from brokkr_adapters_k8s.testing import FakeApiServer

    with FakeApiServer.running() as server:
        path = server.kubeconfig_path(directory)
        yield ApiServerCluster(server, path)
