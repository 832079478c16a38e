"""What one agent's reconcile costs: ``--stacks`` stacks x ``--objects`` objects, real adapter, fake cluster.

    uv run --frozen --no-sync python bench/reconcile_cost.py [--stacks 100] [--objects 10] [--noop-ticks 5]

``Reconciler.reconcile`` is driven directly, as the agent's control loop does each tick (configured as the
shipped agent configures it), with ``FakeBrokerGateway`` standing in for the broker and the real
``KubernetesCluster`` talking HTTP to the fake API server, which runs in its own process so that this
process's CPU time (``time.process_time``) is the agent side only: YAML parsing, ordering, ownership marks,
the Kubernetes client's serialisation and HTTP. Three ticks are measured:

- ``first apply``: every stack is new (dry run, apply, prune per stack);
- ``no-op``: nothing changed; the reconciler checks each converged stack for drift (median of several);
- ``one-object change``: a new version of one stack in which one object differs.

Every cluster call is counted by method, so the cost per tick can be read as "how many API requests".
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from uuid import UUID, uuid4

import httpx
import psutil
from common import ManagedProcess, free_port, machine_line, table, wait_until, workdir, write_results

from brokkr_adapters_k8s import KubernetesCluster
from brokkr_domain.agent.reconcile import Reconciler, TickReport
from brokkr_domain.ports import Cluster, SystemClock
from brokkr_domain.testing import builders
from brokkr_domain.testing.fake_broker import FakeBrokerGateway


class CountingCluster:
    """Delegates to the real adapter and counts calls per method (the API requests of a tick, roughly)."""

    def __init__(self, inner: KubernetesCluster) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()
        self.seconds: dict[str, float] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        def counted(*args: Any, **kwargs: Any) -> Any:
            key = "apply(dry_run)" if name == "apply" and kwargs.get("dry_run") else name
            self.calls[key] += 1
            start = time.perf_counter()
            try:
                return target(*args, **kwargs)
            finally:
                self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - start

        return counted


def stack_yaml(stack: int, objects: int, version: int = 0, changed: int | None = None) -> str:
    """A namespace of its own and ``objects - 1`` namespaced objects of common kinds; ``changed`` alters one."""
    ns = f"bench-{stack}"
    docs = [f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"]
    for i in range(objects - 1):
        value = f"{version}-{i}" + ("-changed" if i == changed else "")
        kind = i % 5
        if kind == 0:
            docs.append(
                f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  namespace: {ns}\n"
                f"  labels: {{app: app-{i}}}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: app-{i}}}\n"
                f"  template:\n    metadata:\n      labels: {{app: app-{i}}}\n      annotations: {{rev: '{value}'}}\n"
                f"    spec:\n      containers:\n        - name: app\n          image: example.com/app:{version}\n"
                f"          ports: [{{containerPort: 8080}}]\n"
            )
        elif kind == 1:
            docs.append(
                f"apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: {ns}\n"
                f"  annotations: {{rev: '{value}'}}\nspec:\n  selector: {{app: app-{i}}}\n"
                f"  ports: [{{port: 80, targetPort: 8080}}]\n"
            )
        elif kind == 2:
            docs.append(
                f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: secret-{i}\n  namespace: {ns}\n"
                f"type: Opaque\nstringData:\n  token: '{value}'\n"
            )
        else:
            docs.append(
                f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-{i}\n  namespace: {ns}\n"
                f"data:\n  value: '{value}'\n  settings: 'a=1,b=2,c=3'\n"
            )
    return "---\n".join(docs)


def measure(
    name: str, objects: int, tick: Callable[[], TickReport], cluster: CountingCluster, server: ManagedProcess
) -> dict[str, Any]:
    cluster.calls.clear()
    cluster.seconds.clear()
    server_cpu0 = _cpu(server.pid)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    report = tick()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    server_cpu = _cpu(server.pid) - server_cpu0
    if report.failed:
        first = next(iter(report.failed.values()))
        raise RuntimeError(f"{name}: {len(report.failed)} stacks failed, e.g. {first}")
    return {
        "tick": name,
        "wall_s": wall,
        "cpu_s": cpu,
        "objects": objects,
        "objects_per_s": objects / wall if objects else None,
        "applied_stacks": len(report.applied),
        "skipped_stacks": len(report.skipped),
        "server_cpu_s": server_cpu,
        "calls": dict(cluster.calls),
        "call_seconds": dict(cluster.seconds),
    }


def _cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def start_fake_apiserver(directory: Path) -> tuple[ManagedProcess, Path]:
    port = free_port()
    kubeconfig = directory / "kubeconfig"
    argv = [
        sys.executable,
        "-m",
        "brokkr_adapters_k8s.testing.fake_apiserver",
        "--port",
        str(port),
        "--kubeconfig-out",
        str(kubeconfig),
    ]
    server = ManagedProcess("fake-apiserver", argv, {}, directory).start()

    def ready() -> bool:
        server.check_alive()
        return kubeconfig.exists() and httpx.get(f"http://127.0.0.1:{port}/version").status_code == 200

    wait_until(ready, 30, "the fake API server")
    return server, kubeconfig


def run(args: argparse.Namespace, directory: Path) -> list[dict[str, Any]]:
    server, kubeconfig = start_fake_apiserver(directory)
    executor = ThreadPoolExecutor(args.parallel) if args.parallel > 1 else None
    try:
        cluster = CountingCluster(KubernetesCluster.from_kubeconfig(kubeconfig))
        gateway = FakeBrokerGateway()
        agent_id: UUID = gateway.add_agent().id
        reconciler = Reconciler(
            cast(Cluster, cluster),
            gateway,
            clock=SystemClock(),
            sleep=time.sleep,
            executor=executor,
            max_parallel=max(args.parallel, 1),
        )
        now = datetime.now(UTC)
        stacks = [uuid4() for _ in range(args.stacks)]
        target = [
            builders.deployment_object(now, sid, sequence_id=n + 1, yaml_content=stack_yaml(n, args.objects))
            for n, sid in enumerate(stacks)
        ]
        total = args.stacks * args.objects
        rows = [
            measure("first apply", total, lambda: reconciler.reconcile(target, agent_id), cluster, server)
        ]
        noops = [
            measure("no-op", total, lambda: reconciler.reconcile(target, agent_id), cluster, server)
            for _ in range(args.noop_ticks)
        ]
        median = sorted(noops, key=lambda r: r["wall_s"])[len(noops) // 2]
        rows.append({**median, "tick": f"no-op (median of {len(noops)})", "runs": noops})
        changed = list(target)
        changed[0] = builders.deployment_object(
            now,
            stacks[0],
            sequence_id=args.stacks + 1,
            yaml_content=stack_yaml(0, args.objects, 1, changed=1),
        )
        rows.append(
            measure(
                "one-object change",
                args.objects,
                lambda: reconciler.reconcile(changed, agent_id),
                cluster,
                server,
            )
        )
        rows.append(
            measure(
                "no-op after change", total, lambda: reconciler.reconcile(changed, agent_id), cluster, server
            )
        )
        return rows
    finally:
        if executor is not None:
            executor.shutdown()
        server.stop()


def _calls(row: dict[str, Any]) -> str:
    """``method count (seconds)`` by time spent, e.g. ``apply 1000 (6.1 s)``."""
    ordered = sorted(row["calls"], key=lambda k: -row["call_seconds"].get(k, 0.0))
    return ", ".join(f"{k} {row['calls'][k]} ({row['call_seconds'].get(k, 0.0):.2f} s)" for k in ordered)


def report(args: argparse.Namespace, rows: list[dict[str, Any]]) -> list[str]:
    mode = f"{args.parallel} parallel applies" if args.parallel > 1 else "sequential, as the shipped agent"
    return [
        table(
            f"Reconcile cost, {args.stacks} stacks x {args.objects} objects, fake API server in its own process ({mode})",
            [
                "tick",
                "wall s",
                "agent CPU s",
                "API server CPU s",
                "objects",
                "objects/s",
                "stacks applied",
                "cluster calls (time in them)",
            ],
            [
                [
                    r["tick"],
                    r["wall_s"],
                    r["cpu_s"],
                    r["server_cpu_s"],
                    r["objects"],
                    r["objects_per_s"],
                    r["applied_stacks"],
                    _calls(r),
                ]
                for r in rows
            ],
        )
    ]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--stacks", type=int, default=100, help="stacks (%(default)s)")
    p.add_argument(
        "--objects", type=int, default=10, help="objects per stack, incl. its namespace (%(default)s)"
    )
    p.add_argument("--noop-ticks", type=int, default=5, help="no-op ticks measured (%(default)s)")
    p.add_argument(
        "--parallel", type=int, default=0, help="apply with an executor of N threads (0: sequential)"
    )
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (logs)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(machine_line())
    with workdir(args.keep) as directory:
        rows = run(args, directory)
    write_results("reconcile_cost", vars(args), rows, report(args, rows))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
