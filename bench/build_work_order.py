"""Build work orders end to end, and what the agent keeps doing while a build runs.

    uv run --frozen --no-sync python bench/build_work_order.py [--build-seconds 5 20] [--runs 5] [--interval 1]

Real processes: one broker (``brokkr-broker serve`` on an embedded PostgreSQL), one ``brokkr-agent run``
(``polling_interval`` = ``--interval``; the agent has no separate heartbeat setting, it heartbeats every
polling interval, and follows a BuildRun every ``min(5 s, interval)``), and one ``brokkr-fake-apiserver``
process started with ``--simulate-builds S``: every Shipwright BuildRun it is asked to create runs for S
seconds, then succeeds (its status carries ``startTime`` and ``completionTime`` with microseconds). Each
simulated build time S gets a fresh fake API server and agent process (same agent record, same broker).

Each run POSTs a ``build`` work order targeted at the agent and takes the time to its history entry
(``/work-order-log/{id}``, SUCCESS) apart with the broker's and the fake's own timestamps (one machine, one
clock): *claim* (POST → ``claimed_at``), *BuildRun created* (→ ``startTime``), *build* (→
``completionTime``, ≈ S), *report* (→ ``completed_at``) and *seen* (→ this script saw the entry). Meanwhile a
thread records every distinct ``last_heartbeat`` of the agent record, and a ConfigMap is deployed to the
agent's stack ``--change-after`` s plus a random fraction of the interval after the claim: it must reach the
cluster before the build ends. The same change and heartbeat measurements with no build running are the
baseline. *report* depends on where the agent's BuildRun checks fall: up to one follow interval in general,
but a whole-second S with a 1 s follow interval puts a check just after the end (the checks drift only by
their own request time), so it is small here.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import itertools
import os
import random
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from common import (
    BIN,
    Broker,
    ManagedProcess,
    Postgres,
    Sampler,
    free_port,
    new_webhook_key,
    percentile,
    table,
    wait_for_quiet,
    wait_until,
    workdir,
)
from common import write_results as save
from convergence import config_map, create_stack, register_agent, start_agent

AGENT = "bench-builder"
BUILD = """apiVersion: shipwright.io/v1beta1
kind: Build
metadata: {name: app, namespace: default}
spec:
  source: {type: Git, git: {url: "https://git.example/app"}}
  strategy: {name: buildah, kind: ClusterBuildStrategy}
  output: {image: registry.example/app}
"""
SEGMENTS = ("claim", "start", "build", "report", "seen", "total")
SEGMENT_NAMES = {
    "claim": "POST -> claimed (claimed_at)",
    "start": "claimed -> BuildRun created",
    "build": "build (BuildRun running)",
    "report": "build done -> completed at broker",
    "seen": "completed -> history entry seen",
    "total": "end to end: POST -> SUCCESS seen",
}


def crd(kind: str, plural: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.shipwright.io"},
        "spec": {
            "group": "shipwright.io",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "versions": [
                {"name": "v1beta1", "served": True, "storage": True, "subresources": {"status": {}}}
            ],
        },
    }


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class FakeCluster(ManagedProcess):
    """``brokkr-fake-apiserver --simulate-builds S`` in its own process, with Shipwright's CRDs installed."""

    def __init__(self, build_seconds: float, directory: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.kubeconfig = directory / f"kubeconfig-{build_seconds:g}s"
        argv = [str(BIN / "brokkr-fake-apiserver"), "--port", str(self.port)]
        argv += ["--kubeconfig-out", str(self.kubeconfig), "--simulate-builds", str(build_seconds)]
        super().__init__(f"fake-apiserver-{build_seconds:g}s", argv, {}, directory)
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def start(self) -> FakeCluster:
        super().start()

        def ready() -> bool:
            self.check_alive()
            return self.kubeconfig.exists() and self.http.get("/version").status_code == 200

        wait_until(ready, 30, self.name)
        for kind, plural in (("Build", "builds"), ("BuildRun", "buildruns")):
            path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
            self.http.post(path, json=crd(kind, plural)).raise_for_status()
        return self

    def stop(self, timeout: float = 20.0) -> None:
        self.http.close()
        super().stop(timeout)

    def has_config_map(self, name: str) -> bool:
        return self.http.get(f"/api/v1/namespaces/default/configmaps/{name}").status_code == 200

    def build_run(self, name: str) -> dict[str, Any]:
        response = self.http.get(f"/apis/shipwright.io/v1beta1/namespaces/default/buildruns/{name}")
        response.raise_for_status()
        run: dict[str, Any] = response.json()
        return run


class HeartbeatRecorder:
    """Polls the agent record and keeps every distinct ``last_heartbeat`` (the broker's clock, as epoch s)."""

    def __init__(self, broker: Broker, pak: str, agent_id: str, every: float) -> None:
        self.client = broker.client(pak)
        self.path = f"/agents/{agent_id}"
        self.every = every
        self.beats: list[float] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                stamp = self.client.get(self.path).json().get("last_heartbeat")
            except httpx.HTTPError:
                self.errors += 1
            else:
                if stamp:
                    beat = epoch(stamp)
                    if not self.beats or beat > self.beats[-1]:
                        self.beats.append(beat)
            self._stop.wait(self.every)

    @contextlib.contextmanager
    def running(self) -> Iterator[HeartbeatRecorder]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()
            self.client.close()

    def during(self, start: float, end: float) -> dict[str, Any]:
        """Heartbeats in ``[start, end]``; gaps span from the last beat before it to the first after it."""
        beats = list(self.beats)
        first = max(bisect.bisect_right(beats, start) - 1, 0)
        last = min(bisect.bisect_left(beats, end), len(beats) - 1)
        around = beats[first : last + 1]
        gaps = [b - a for a, b in itertools.pairwise(around)]
        return {
            "window_s": end - start,
            "beats": sum(1 for b in beats if start <= b <= end),
            "at_s": [b - start for b in around],  # each beat's time after the window opened (the build start)
            "gaps_s": gaps,
            "max_gap_s": max(gaps) if gaps else float("nan"),
        }


def breakdown(marks: dict[str, float]) -> dict[str, Any]:
    """The segments between consecutive marks; they add up to the total."""
    return {
        "marks": marks,
        "segments_s": {
            "claim": marks["claimed"] - marks["posted"],
            "start": marks["build_started"] - marks["claimed"],
            "build": marks["build_done"] - marks["build_started"],
            "report": marks["completed"] - marks["build_done"],
            "seen": marks["seen"] - marks["completed"],
            "total": marks["seen"] - marks["posted"],
        },
    }


class Bench:
    """One broker, the agent record and its stack; a fake cluster and agent process per build time."""

    def __init__(
        self, args: argparse.Namespace, directory: Path, broker: Broker, admin: httpx.Client
    ) -> None:
        self.args = args
        self.directory = directory
        self.broker = broker
        self.admin = admin
        self.agent_id, self.pak = register_agent(admin, AGENT)
        self.stack_id = create_stack(admin)
        self.rng = random.Random(7)
        self.changes = 0
        self.processes: dict[str, ManagedProcess] = {}  # the current phase's agent and fake API server

    def pids(self, name: str) -> list[int]:
        process = self.processes.get(name)
        return [process.pid] if process is not None and process.alive() else []

    def post_change(self) -> tuple[str, float]:
        self.changes += 1
        name = f"bench-during-build-{self.changes}"
        started = time.time()
        body = {"yaml_content": config_map(name)}
        self.admin.post(f"/stacks/{self.stack_id}/deployment-objects", json=body).raise_for_status()
        return name, started

    def converge(self, cluster: FakeCluster) -> float:
        """A change with no build running: POST → ConfigMap in the cluster, s."""
        time.sleep(self.rng.uniform(0, self.args.interval))
        name, started = self.post_change()
        wait_until(lambda: cluster.has_config_map(name), 30, name, interval=self.args.probe_ms / 1000)
        return time.time() - started

    def order_state(self, order_id: str) -> tuple[str, dict[str, Any] | None]:
        """The order's status and, once it has moved to the history, its log entry."""
        live = self.admin.get(f"/work-orders/{order_id}")
        status = str(live.json().get("status")) if live.status_code == 200 else "GONE"
        if status in ("PENDING", "CLAIMED", "RETRY_PENDING"):
            return status, None
        entry = self.admin.get(f"/work-order-log/{order_id}")
        return status, entry.json() if entry.status_code == 200 else None

    def build(self, cluster: FakeCluster, seconds: float) -> dict[str, Any]:
        """One build work order, with a stack change deployed while it runs."""
        args, probe = self.args, self.args.probe_ms / 1000
        time.sleep(self.rng.uniform(0, args.interval))  # a random phase of the agent's polls
        posted = time.time()
        body = {"work_type": "build", "yaml_content": BUILD, "targeting": {"agent_ids": [self.agent_id]}}
        order_id = str(self.admin.post("/work-orders", json={**body, "max_retries": 0}).json()["id"])
        change: tuple[str, float] | None = None
        change_at: float | None = None
        change_seen: float | None = None
        entry: dict[str, Any] | None = None
        seen = 0.0
        deadline = posted + seconds + args.timeout
        while entry is None or (change is not None and change_seen is None):
            now = time.time()
            if now > deadline:
                raise TimeoutError(f"work order {order_id} (S = {seconds:g} s) did not finish in time")
            if entry is None:
                status, entry = self.order_state(order_id)
                seen = time.time()
                if change_at is None and status != "PENDING":
                    change_at = now + args.change_after + self.rng.uniform(0, args.interval)
            if change is None and change_at is not None and now >= change_at:
                change = self.post_change()
            if change is not None and change_seen is None and cluster.has_config_map(change[0]):
                change_seen = time.time()
            time.sleep(probe)
        if not entry.get("success"):
            raise RuntimeError(f"work order {order_id} failed: {entry.get('result_message')}")
        run_status = cluster.build_run(f"app-{order_id[:8]}")["status"]
        marks = {
            "posted": posted,
            "claimed": epoch(entry["claimed_at"]),
            "build_started": epoch(run_status["startTime"]),
            "build_done": epoch(run_status["completionTime"]),
            "completed": epoch(entry["completed_at"]),
            "seen": seen,
        }
        result = breakdown(marks)
        result.update(order_id=order_id, build_seconds=seconds)
        if change is not None and change_seen is not None:
            result["change"] = {
                "posted_after_build_start_s": change[1] - marks["build_started"],
                "converge_s": change_seen - change[1],
                "applied_before_build_done": change_seen < marks["build_done"],
                "margin_s": marks["build_done"] - change_seen,
            }
        return result

    def phase(self, seconds: float, recorder: HeartbeatRecorder, sampler: Sampler) -> dict[str, Any]:
        """A fresh fake cluster (builds take ``seconds``) and agent process: warm up, idle baseline, builds."""
        with contextlib.ExitStack() as stack:
            cluster = FakeCluster(seconds, self.directory).start()
            stack.callback(cluster.stop)
            launched = time.time()
            # The same agent record (its name is checked against the PAK): one log, appended per phase.
            agent = start_agent(
                AGENT, self.broker, self.pak, cluster.kubeconfig, self.args.interval, self.directory
            )
            stack.callback(agent.stop)
            self.processes.update(agent=agent, fake=cluster)

            def fresh_heartbeat() -> bool:
                agent.check_alive()
                return bool(recorder.beats) and recorder.beats[-1] > launched

            wait_until(fresh_heartbeat, 60, f"the first heartbeat of the agent (S = {seconds:g} s)")
            print(f"S = {seconds:g} s: warming up (one change, one build)", flush=True)
            self.converge(cluster)
            self.build(cluster, seconds)
            idle_start = time.time()
            idle = [self.converge(cluster) for _ in range(self.args.runs)]
            idle_heartbeats = recorder.during(idle_start, time.time())
            runs = []
            for run_no in range(1, self.args.runs + 1):
                if self.args.quiet_wait > 0:
                    wait_for_quiet(self.args.quiet_wait)
                result = self.build(cluster, seconds)
                marks = result["marks"]
                result["heartbeats"] = recorder.during(marks["build_started"], marks["build_done"])
                result["cpu"] = sampler.window(marks["posted"], marks["seen"])
                runs.append(result)
                seg, change = result["segments_s"], result.get("change", {})
                print(
                    f"  S = {seconds:g} s run {run_no}: total {seg['total']:.2f} s (claim {seg['claim']:.2f}, "
                    f"build {seg['build']:.2f}, report {seg['report']:.2f}); max heartbeat gap "
                    f"{result['heartbeats']['max_gap_s']:.2f} s; change applied in "
                    f"{change.get('converge_s', float('nan')):.2f} s",
                    flush=True,
                )
        return {
            "build_seconds": seconds,
            "idle_converge_s": idle,
            "idle_heartbeats": idle_heartbeats,
            "runs": runs,
        }


def run(args: argparse.Namespace, directory: Path) -> list[dict[str, Any]]:
    with contextlib.ExitStack() as stack:
        pg = Postgres(directory).start()
        stack.callback(pg.stop)
        broker = Broker("broker", pg.url, directory, webhook_key_hex=new_webhook_key()).start()
        stack.callback(broker.stop)
        admin = stack.enter_context(broker.client(broker.admin_pak()))
        bench = Bench(args, directory, broker, admin)
        every = args.heartbeat_probe_ms / 1000
        recorder = HeartbeatRecorder(broker, broker.admin_pak(), bench.agent_id, every)
        stack.enter_context(recorder.running())
        groups = {
            "broker": lambda: [broker.pid],
            "postgres": pg.pids,
            "agent": lambda: bench.pids("agent"),
            "fake": lambda: bench.pids("fake"),
            "bench": lambda: [os.getpid()],  # this script's probes and heartbeat reader
        }
        sampler = Sampler(groups).start()
        stack.callback(sampler.stop)
        return [bench.phase(seconds, recorder, sampler) for seconds in args.build_seconds]


def spread(values: Sequence[float]) -> list[float]:
    """min, median, mean, max."""
    if not values:
        return [float("nan")] * 4
    return [min(values), percentile(values, 0.5), sum(values) / len(values), max(values)]


def report(args: argparse.Namespace, phases: list[dict[str, Any]]) -> list[str]:
    n, interval = args.runs, args.interval
    nan = float("nan")
    rows: list[list[object]] = [
        [
            f"{p['build_seconds']:g}",
            SEGMENT_NAMES[seg],
            len(p["runs"]),
            *spread([r["segments_s"][seg] for r in p["runs"]]),
        ]
        for p in phases
        for seg in SEGMENTS
    ]
    tables = [
        table(
            f"Build work order, POST -> history entry SUCCESS, {n} runs per simulated build time S "
            f"(1 agent process, polling and heartbeat interval {interval:g} s, BuildRun followed every "
            f"{min(5.0, interval):g} s)",
            ["S s", "segment", "runs", "min s", "p50 s", "mean s", "max s"],
            rows,
        )
    ]
    rows = []
    for p in phases:
        during = [r["heartbeats"] for r in p["runs"]]
        for label, windows in (("no build running", [p["idle_heartbeats"]]), ("during the builds", during)):
            gaps = [g for w in windows for g in w["gaps_s"]]
            worst = max(gaps, default=nan)
            rows.append(
                [
                    f"{p['build_seconds']:g}",
                    label,
                    sum(w["window_s"] for w in windows),
                    sum(w["beats"] for w in windows),
                    sum(gaps) / len(gaps) if gaps else nan,
                    worst,
                    worst / interval,
                ]
            )
    tables.append(
        table(
            f"Agent heartbeats seen at the broker (last_heartbeat), configured interval {interval:g} s",
            ["S s", "when", "window s", "heartbeats", "mean gap s", "max gap s", "max gap / interval"],
            rows,
        )
    )
    rows = []
    for p in phases:
        changes = [r["change"] for r in p["runs"] if "change" in r]
        idle_ms = [s * 1000 for s in p["idle_converge_s"]]
        during_ms = [c["converge_s"] * 1000 for c in changes]
        before = sum(1 for c in changes if c["applied_before_build_done"])
        margin = min((c["margin_s"] for c in changes), default=nan)
        rows.append([f"{p['build_seconds']:g}", "no build running", len(idle_ms), *spread(idle_ms), "-", "-"])
        label = "during a build"
        rows.append(
            [f"{p['build_seconds']:g}", label, len(during_ms), *spread(during_ms), f"{before}/{n}", margin]
        )
    tables.append(
        table(
            "A stack change (new ConfigMap) deployed while a build runs: POST -> object in the cluster",
            [
                "S s",
                "when",
                "changes",
                "min ms",
                "p50 ms",
                "mean ms",
                "max ms",
                "before build end",
                "min margin s",
            ],
            rows,
        )
    )
    rows = []
    for p in phases:
        for i, r in enumerate(p["runs"], 1):
            seg, change, beats = r["segments_s"], r.get("change", {}), r["heartbeats"]
            rows.append(
                [
                    f"{p['build_seconds']:g}",
                    i,
                    *(seg[k] for k in SEGMENTS),
                    beats["beats"],
                    beats["max_gap_s"],
                    change.get("posted_after_build_start_s"),
                    change.get("converge_s"),
                    change.get("margin_s"),
                    r["cpu"].get("agent_cpu_pct"),
                    r["cpu"].get("other_cpu_pct"),
                ]
            )
    tables.append(
        table(
            "Every run (seconds; beats and max gap between the BuildRun's startTime and completionTime; change at "
            "= after the build started; margin = build end - change applied; CPU % of one core, POST -> seen, "
            "other = the rest of the machine)",
            [
                *("S s", "run", *SEGMENTS, "beats", "max gap"),
                *("change at", "change took", "margin", "agent CPU %", "other CPU %"),
            ],
            rows,
        )
    )
    return tables


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--build-seconds", type=float, nargs="+", default=[5.0, 20.0], help="simulated build times S, s"
    )
    p.add_argument("--runs", type=int, default=5, help="build work orders measured per S")
    p.add_argument("--interval", type=float, default=1.0, help="agent polling (and heartbeat) interval, s")
    p.add_argument(
        "--change-after",
        type=float,
        default=1.0,
        help="deploy the stack change this long (plus a random fraction of the interval) after the claim, s",
    )
    p.add_argument(
        "--probe-ms", type=float, default=20.0, help="how often orders and the cluster are checked"
    )
    p.add_argument("--heartbeat-probe-ms", type=float, default=100.0, help="how often last_heartbeat is read")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=15.0,
        help="wait up to this long for an idle machine before each run, s",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="seconds allowed per order beyond S")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (logs, database)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with workdir(args.keep) as directory:
        phases = run(args, directory)
    config = {
        **vars(args),
        "heartbeat_interval": args.interval,
        "build_follow_interval": min(5.0, args.interval),
        "work_order_concurrency": 2,
    }
    save("build_work_order", config, phases, report(args, phases))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
