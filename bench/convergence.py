"""Convergence latency: from ``POST …/deployment-objects`` to the object existing in every targeted cluster.

    uv run --frozen --no-sync python bench/convergence.py [--runs 30] [--interval 1]

Real processes: one broker (``brokkr-broker serve`` on an embedded PostgreSQL) and two agents
(``brokkr-agent run``, ``polling_interval`` = ``--interval``), each agent reconciling its own fake Kubernetes
API server (in this process, so arrival is observed in the server's state without a request). Both agents
carry the label of one stack. Each run waits a random fraction of the polling interval (so the POST lands at
a random phase of the agents' polls, as a real change does), POSTs a ConfigMap under a new name and polls both
clusters every ``--probe-ms`` until it is there. The latency is expected near ``interval / 2`` plus one tick's
work; its spread is the polling phase.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from common import (
    BIN,
    Broker,
    ManagedProcess,
    Postgres,
    free_port,
    latency_summary_ms,
    new_webhook_key,
    run_benchmark,
    table,
    wait_until,
)

from brokkr_adapters_k8s.testing import FakeApiServer

LABEL = "bench-convergence"


def register_agent(admin: httpx.Client, name: str) -> tuple[str, str]:
    """An ACTIVE agent with the stack's label; returns (id, PAK)."""
    created = admin.post("/agents", json={"name": name, "cluster_name": name})
    created.raise_for_status()
    agent_id, pak = created.json()["agent"]["id"], created.json()["initial_pak"]
    admin.post(f"/agents/{agent_id}/labels", json={"agent_id": agent_id, "label": LABEL}).raise_for_status()
    admin.put(f"/agents/{agent_id}", json={"status": "ACTIVE"}).raise_for_status()
    return str(agent_id), str(pak)


def create_stack(admin: httpx.Client) -> str:
    generator = admin.get("/generators").json()[0]["id"]
    stack = admin.post("/stacks", json={"name": "bench-convergence", "generator_id": generator})
    stack.raise_for_status()
    stack_id = str(stack.json()["id"])
    admin.post(f"/stacks/{stack_id}/labels", json=LABEL).raise_for_status()
    return stack_id


def start_agent(
    name: str, broker: Broker, pak: str, kubeconfig: Path, interval: float, directory: Path
) -> ManagedProcess:
    env = {
        "BROKKR__AGENT__BROKER_URL": broker.url,
        "BROKKR__AGENT__PAK": pak,
        "BROKKR__AGENT__AGENT_NAME": name,
        "BROKKR__AGENT__CLUSTER_NAME": name,
        "BROKKR__AGENT__KUBECONFIG_PATH": str(kubeconfig),
        "BROKKR__AGENT__POLLING_INTERVAL": str(interval),
        "BROKKR__AGENT__HEALTH_PORT": str(free_port()),
        "BROKKR__LOG__LEVEL": "info",
    }
    return ManagedProcess(name, [str(BIN / "brokkr-agent"), "run"], env, directory).start()


def config_map(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  run: {name}\n"


def wait_for_object(
    clusters: Sequence[FakeApiServer], name: str, start: float, timeout: float, probe: float
) -> list[float]:
    """Seconds from ``start`` until the ConfigMap existed in each cluster (observed every ``probe`` s)."""
    arrived: list[float | None] = [None] * len(clusters)
    deadline = start + timeout
    while None in arrived:
        now = time.perf_counter()
        if now > deadline:
            raise TimeoutError(f"{name} did not reach every cluster within {timeout:.0f} s")
        for i, cluster in enumerate(clusters):
            if arrived[i] is None and cluster.state.get_object("", "ConfigMap", name, "default") is not None:
                arrived[i] = now - start
        time.sleep(probe)
    return [a for a in arrived if a is not None]


@contextlib.contextmanager
def system(
    args: argparse.Namespace, directory: Path
) -> Iterator[tuple[Broker, httpx.Client, list[FakeApiServer]]]:
    """Broker, two fake clusters, two agents with their first heartbeat in."""
    with contextlib.ExitStack() as stack:
        pg = Postgres(directory).start()
        stack.callback(pg.stop)
        broker = Broker("broker", pg.url, directory, webhook_key_hex=new_webhook_key()).start()
        stack.callback(broker.stop)
        admin = stack.enter_context(broker.client(broker.admin_pak()))
        clusters = [stack.enter_context(FakeApiServer.running()) for _ in range(2)]
        agents = []
        for i, cluster in enumerate(clusters):
            name = f"bench-agent-{i}"
            agent_id, pak = register_agent(admin, name)
            kubeconfig = cluster.kubeconfig_path(directory / f"kubeconfig-{i}.yaml")
            process = start_agent(name, broker, pak, kubeconfig, args.interval, directory)
            stack.callback(process.stop)
            agents.append((agent_id, process))
        for agent_id, process in agents:

            def heartbeat(agent_id: str = agent_id, process: ManagedProcess = process) -> Any:
                process.check_alive()
                return admin.get(f"/agents/{agent_id}").json().get("last_heartbeat")

            wait_until(heartbeat, 60, f"the first heartbeat of {process.name}")
        yield broker, admin, clusters


def run(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    with system(args, directory) as (_, admin, clusters):
        stack_id = create_stack(admin)
        rng = random.Random(11)
        per_cluster: list[list[float]] = [[] for _ in clusters]
        both: list[float] = []
        posts: list[float] = []
        for run_no in range(args.runs + 1):  # run 0 warms up (first apply, discovery) and is not counted
            time.sleep(rng.uniform(0, args.interval))
            name = f"bench-convergence-{run_no}"
            start = time.perf_counter()
            admin.post(
                f"/stacks/{stack_id}/deployment-objects", json={"yaml_content": config_map(name)}
            ).raise_for_status()
            posted = time.perf_counter() - start
            arrived = wait_for_object(clusters, name, start, args.timeout, args.probe_ms / 1000)
            if run_no == 0:
                continue
            posts.append(posted)
            for i, seconds in enumerate(arrived):
                per_cluster[i].append(seconds)
            both.append(max(arrived))
            print(
                f"  run {run_no:3d}: "
                + "  ".join(f"cluster {i} {s * 1000:6.0f} ms" for i, s in enumerate(arrived)),
                flush=True,
            )
    return {
        "per_cluster_ms": [latency_summary_ms(v) for v in per_cluster],
        "both_ms": latency_summary_ms(both),
        "all_ms": latency_summary_ms([s for v in per_cluster for s in v]),
        "post_ms": latency_summary_ms(posts),
        "raw_s": {"per_cluster": per_cluster, "both": both},
    }


def report(args: argparse.Namespace, results: dict[str, Any]) -> list[str]:
    rows: list[tuple[str, dict[str, float]]] = [
        *((f"agent {i} (own cluster)", s) for i, s in enumerate(results["per_cluster_ms"])),
        ("any agent (every arrival)", results["all_ms"]),
        ("both clusters (slower of the two)", results["both_ms"]),
        ("the POST itself", results["post_ms"]),
    ]
    return [
        table(
            f"Convergence: POST deployment object -> ConfigMap in the fake cluster, {args.runs} runs, "
            f"2 agent processes polling every {args.interval:g} s",
            ["measured", "runs", "p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms"],
            [[name, int(s["n"]), s["p50"], s["p90"], s["p99"], s["max"], s["mean"]] for name, s in rows],
        )
    ]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=30, help="changes measured (%(default)s)")
    p.add_argument("--interval", type=float, default=1.0, help="agents' polling interval, s (%(default)s)")
    p.add_argument(
        "--probe-ms", type=float, default=5.0, help="how often the clusters are checked (%(default)s)"
    )
    p.add_argument("--timeout", type=float, default=60.0, help="max seconds per change (%(default)s)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (logs, database)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark("convergence", parse_args(argv), run, report)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
