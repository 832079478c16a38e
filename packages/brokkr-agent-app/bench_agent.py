"""Measure the agent: change latency, the CPU cost of a steady-state tick, and its memory.

    uv run --frozen --no-sync python packages/brokkr-agent-app/bench_agent.py [--runs 20] [--stacks 100]

1. Latency from ``POST /stacks/{id}/deployment-objects`` to the objects existing in the cluster, ``--runs``
   times, with ``polling_interval`` = 1 s (the agent polls; the wait is ~uniform over one interval).
2. Agent CPU time (``time.thread_time`` of the thread running the tick, so neither the in-process broker nor
   the fake API server is counted) of one control tick when nothing changed, over ``--stacks`` stacks of
   ``--objects`` objects each: heartbeat, own record, full target state, and the reconciler's drift check.
3. The resident memory of an agent process (a child running ``brokkr-agent run``) serving those stacks.

The broker is the real app on loopback over an embedded PostgreSQL (or ``$BROKKR_TEST_DATABASE_URL``); the
cluster is the Kubernetes adapter over the fake API server when the adapter exists, else the in-memory one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent / "tests"))

from agentapp_clusters import ClusterHarness, cluster_harness, kubernetes_adapter_available
from agentapp_support import Admin, BrokerServer, agent_settings, wait_for
from brokkr_adapters_postgres.embedded import EmbeddedPostgres
from brokkr_adapters_postgres.testing import URL_ENV, PostgresTestServer
from brokkr_agent_app.gateway import HttpBrokerGateway
from brokkr_agent_app.loops import DRIFT_CHECK_TICKS, AgentLoops
from brokkr_agent_app.metrics import AgentMetrics
from brokkr_agent_app.runtime import identify
from brokkr_agent_app.status import AgentStatus
from brokkr_agent_app.webhook_sender import HttpxWebhookSender
from brokkr_domain.manifests import ObjectRef
from brokkr_domain.ports import SystemClock


def config_maps(prefix: str, count: int, value: str = "1") -> str:
    return "---\n".join(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {prefix}-{i}, namespace: default}}\n"
        f'data: {{value: "{value}"}}\n'
        for i in range(count)
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def latency(broker: BrokerServer, admin: Admin, harness: ClusterHarness, runs: int) -> dict[str, float]:
    agent_id, pak = admin.create_agent("bench-latency")
    settings = agent_settings(broker, pak, "bench-latency", polling_interval=1.0)
    from brokkr_agent_app.runtime import start

    running = start(settings, lambda _s: harness.cluster)
    stack = admin.create_stack("bench-latency", target=agent_id)
    samples: list[float] = []
    try:
        for run in range(runs):
            time.sleep(0.37 * (run % 3))  # spread the POSTs over the polling phase
            began = time.perf_counter()
            admin.deploy(stack, config_maps(f"lat{run}", 1))
            ref = ObjectRef("v1", "ConfigMap", "default", f"lat{run}-0")
            wait_for(partial(harness.live, ref), timeout=10, interval=0.002)
            samples.append(time.perf_counter() - began)
    finally:
        running.stop()
    return {
        "runs": runs,
        "median_s": statistics.median(samples),
        "p99_s": percentile(samples, 0.99),
        "min_s": min(samples),
        "max_s": max(samples),
    }


def idle_tick(
    broker: BrokerServer, admin: Admin, harness: ClusterHarness, stacks: int, objects: int
) -> tuple[dict[str, float], str]:
    agent_id, pak = admin.create_agent("bench-idle")
    for i in range(stacks):
        stack = admin.create_stack(f"bench-idle-{i}", target=agent_id)
        admin.deploy(stack, config_maps(f"idle{i}", objects))
    settings = agent_settings(broker, pak, "bench-idle", polling_interval=10.0)
    gateway = HttpBrokerGateway(broker.url, pak)
    agent = identify(gateway, "bench-idle", "test-cluster")
    loops = AgentLoops(
        agent_id=agent.id,
        settings=settings,
        gateway=gateway,
        cluster=harness.cluster,
        sender=HttpxWebhookSender(),
        clock=SystemClock(),
        status=AgentStatus(),
        metrics=AgentMetrics(),
        agent_status=agent.status,
    )
    loops.control_tick()  # the first tick applies everything
    assert len(loops.reconciler.deployed()) == stacks

    def measure(drift_check_due: bool) -> tuple[list[float], list[float]]:
        """CPU and wall time of 10 idle control ticks, with or without the drift check falling due."""
        loops.reconciler._drift_every = timedelta(0) if drift_check_due else timedelta(hours=1)
        cpu, wall = [], []
        for _ in range(10):
            began_cpu, began_wall = time.thread_time(), time.perf_counter()
            loops.control_tick()
            cpu.append(time.thread_time() - began_cpu)
            wall.append(time.perf_counter() - began_wall)
        return cpu, wall

    plain_cpu, plain_wall = measure(drift_check_due=False)
    drift_cpu, drift_wall = measure(drift_check_due=True)
    beat_cpu = []
    for _ in range(10):
        began_cpu = time.thread_time()
        loops.heartbeat_tick()
        beat_cpu.append(time.thread_time() - began_cpu)
    loops.pool.shutdown()
    gateway.close()
    plain, drift = statistics.median(plain_cpu), statistics.median(drift_cpu)
    return (
        {
            "stacks": stacks,
            "objects_per_stack": objects,
            "idle_control_tick_cpu_median_s": plain,
            "idle_control_tick_wall_median_s": statistics.median(plain_wall),
            "drift_check_tick_cpu_median_s": drift,
            "drift_check_tick_wall_median_s": statistics.median(drift_wall),
            f"amortised_cpu_per_tick_s (drift check every {DRIFT_CHECK_TICKS} ticks)": plain
            + (drift - plain) / DRIFT_CHECK_TICKS,
            "heartbeat_tick_cpu_median_s": statistics.median(beat_cpu),
        },
        pak,
    )


def child_rss(broker: BrokerServer, pak: str, harness: ClusterHarness, directory: Path) -> dict[str, float]:
    """Run ``brokkr-agent run`` in a child process against the same broker and measure its memory."""
    kubeconfig = harness.kubeconfig(directory)
    env = {
        **os.environ,
        "BROKKR__AGENT__BROKER_URL": broker.url,
        "BROKKR__AGENT__PAK": pak,
        "BROKKR__AGENT__AGENT_NAME": "bench-idle",
        "BROKKR__AGENT__CLUSTER_NAME": "test-cluster",
        "BROKKR__AGENT__POLLING_INTERVAL": "1",
        "BROKKR__AGENT__HEALTH_PORT": "0",
        "BROKKR__LOG__LEVEL": "warning",
    }
    if kubeconfig is None:  # no adapter yet: the child runs the in-memory cluster (it holds the objects too)
        code = (
            "import sys; from brokkr_agent_app import cli; "
            "from brokkr_domain.testing.fake_cluster import FakeCluster; c = FakeCluster(); "
            "sys.exit(cli.main(['run'], cluster_factory=lambda s: c))"
        )
    else:
        env["BROKKR__AGENT__KUBECONFIG_PATH"] = kubeconfig
        code = "import sys; from brokkr_agent_app import cli; sys.exit(cli.main(['run']))"
    child = subprocess.Popen([sys.executable, "-c", code], env=env)  # noqa: S603
    try:
        time.sleep(6.0)  # startup, the first full apply, a few idle ticks
        status = Path(f"/proc/{child.pid}/status").read_text()
        values = {
            line.split(":")[0]: int(line.split()[1]) / 1024
            for line in status.splitlines()
            if line.startswith(("VmRSS", "VmHWM"))
        }
    finally:
        child.terminate()
        child.wait(30)
    return {
        "rss_mib": values["VmRSS"],
        "peak_rss_mib": values["VmHWM"],
        "exit_status": float(child.returncode),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--stacks", type=int, default=100)
    parser.add_argument("--objects", type=int, default=10)
    args = parser.parse_args()
    kind = "api-server" if kubernetes_adapter_available() else "in-memory"
    with tempfile.TemporaryDirectory(prefix="brokkr-bench-") as tmp:
        directory = Path(tmp)
        embedded: EmbeddedPostgres | None = None
        url = os.environ.get(URL_ENV)
        if url is None:
            embedded = EmbeddedPostgres(directory / "pg", durable=False, database="postgres").start()
            url = embedded.url("postgres")
        server = PostgresTestServer(url, embedded=embedded)
        broker = BrokerServer(server.create_database(), directory / "broker")
        broker.start()
        admin = broker.client()
        results: dict[str, Any] = {"cluster": kind}
        try:
            with cluster_harness(kind, directory) as harness:
                results["latency"] = latency(broker, admin, harness, args.runs)
                results["idle_tick"], pak = idle_tick(broker, admin, harness, args.stacks, args.objects)
                results["memory"] = child_rss(broker, pak, harness, directory)
        finally:
            admin.close()
            broker.close()
            if embedded is not None:
                embedded.stop()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
