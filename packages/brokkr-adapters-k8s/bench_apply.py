"""Apply throughput and agent-side CPU per object of ``KubernetesCluster`` against the fake API server.

    uv run --frozen --no-sync python packages/brokkr-adapters-k8s/bench_apply.py [--objects 500] [--kubeconfig PATH]

The fake API server runs in a child process (``brokkr-fake-apiserver``), so ``time.process_time()`` of this
process is the adapter's own CPU: building requests, the HTTP client, JSON in and out. ``--kubeconfig`` points
the benchmark at any other cluster instead (it creates and deletes ConfigMaps in a fresh namespace).

Phases: create N ConfigMaps by server-side apply, re-apply them unchanged (the steady state of an agent that
re-applies a stack), dry-run them (the agent validates before applying), list them by label, delete them.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from brokkr_adapters_k8s import KubernetesCluster
from brokkr_domain.manifests import KubeObject, ObjectRef


@contextlib.contextmanager
def fake_apiserver() -> Iterator[Path]:
    """Start ``brokkr-fake-apiserver`` in a child process; yields its kubeconfig once it accepts connections."""
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        command = [sys.executable, "-m", "brokkr_adapters_k8s.testing.fake_apiserver", "--port", "0"]
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [*command, "--kubeconfig-out", str(kubeconfig)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_until_serving(kubeconfig, deadline=time.monotonic() + 20)
            yield kubeconfig
        finally:
            child.terminate()
            child.wait(timeout=10)


def _wait_until_serving(kubeconfig: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if kubeconfig.exists() and kubeconfig.stat().st_size:
            server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
            host, port = server.removeprefix("http://").rsplit(":", 1)
            try:
                socket.create_connection((host, int(port)), timeout=0.2).close()
                return
            except OSError:
                pass
        time.sleep(0.05)
    raise SystemExit("the fake API server did not start")


def config_maps(namespace: str, count: int, run: str) -> list[KubeObject]:
    return [
        KubeObject.from_manifest(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": f"bench-{n:05d}",
                    "namespace": namespace,
                    "labels": {"bench-run": run, "app.kubernetes.io/managed-by": "brokkr"},
                    "annotations": {"k8s.brokkr.io/stack": run, "brokkr.io/owner-id": run},
                },
                "data": {"index": str(n), "payload": "x" * 200},
            }
        )
        for n in range(count)
    ]


def measure(label: str, count: int, action: Callable[[], object]) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"{label:<22} {count / wall:8.0f} objects/s   {1000 * cpu / count:6.3f} ms CPU/object   ({wall:.2f} s)"
    )


def run(kubeconfig: Path, count: int) -> None:
    run_id = uuid.uuid4().hex[:12]
    namespace = f"bench-{run_id}"
    objects = config_maps(namespace, count, run_id)
    with KubernetesCluster.from_kubeconfig(kubeconfig) as cluster:
        print(f"server {cluster.server_version()}, {count} ConfigMaps of ~0.5 KiB, one at a time\n")
        cluster.apply(
            KubeObject.from_manifest(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            )
        )
        measure("apply (create)", count, lambda: [cluster.apply(obj) for obj in objects])
        measure("apply (unchanged)", count, lambda: [cluster.apply(obj) for obj in objects])
        measure("apply (dry run)", count, lambda: [cluster.apply(obj, dry_run=True) for obj in objects])
        found: list[object] = []
        measure("list_by_labels", count, lambda: found.extend(cluster.list_by_labels(f"bench-run={run_id}")))
        assert len(found) == count, f"listed {len(found)} of {count}"
        measure("delete", count, lambda: [cluster.delete(obj.ref) for obj in objects])
        cluster.delete(ObjectRef("v1", "Namespace", None, namespace))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=500)
    parser.add_argument("--kubeconfig", type=Path, help="benchmark this cluster instead of a fake API server")
    args = parser.parse_args(argv)
    if args.kubeconfig:
        run(args.kubeconfig, args.objects)
        return
    with fake_apiserver() as kubeconfig:
        run(kubeconfig, args.objects)


if __name__ == "__main__":
    main()
