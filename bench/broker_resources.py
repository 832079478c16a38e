"""What one broker process costs: resident memory and CPU while idle, and under a fleet's mixed traffic.

    uv run --frozen --no-sync python bench/broker_resources.py [--rate 200] [--duration 60] [--idle 30]

One embedded PostgreSQL and one ``brokkr-broker serve`` with default settings. The fleet of ``target_state.py``
(``--stacks`` stacks of ``--versions`` versions sharing a label with ``--agents`` agents, each with its own PAK)
in its steady state: every agent has reported SUCCESS for every object, so an incremental poll answers ``[]``.
Phases, with the broker's own background tasks (webhook delivery, housekeeping) running throughout:

- *warm-up*: ``--warmup`` s of the mix below (auth cache filled, pools opened, code paths imported); not reported;
- *idle*: ``--idle`` s with no requests;
- *load*: ``--duration`` s of an open-loop mix at ``--rate`` req/s — heartbeats, incremental and full
  target-state polls, event reports and a few admin list calls (``MIX``);
- *idle after load*: ``--idle`` s again, to see whether memory taken under load is given back.

psutil samples the broker and PostgreSQL (postmaster and backends) every half second: CPU as % of one core over
each window, RSS of the broker at the window's start and end and its peak; *bench* is this process (generator and
sampler), *other* the rest of the machine's busy time. Before each phase the script waits up to ``--quiet-wait`` s
for the machine to be idle, and records ``os.getloadavg()`` after it. The load is sent from this process
(``loadgen.open_loop`` with its raw HTTP/1.1 client), so its latency counts from each request's scheduled time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import (
    Broker,
    Postgres,
    Sampler,
    Sent,
    latency_summary_ms,
    loadavg,
    new_webhook_key,
    raw_request,
    run_benchmark,
    run_open_loop,
    table,
    wait_for_quiet,
)
from fleet import Fleet, seed_agents, seed_catalogue, seed_success_events

from brokkr_domain.ports import TargetStateQuery

# Share of each kind of request in the load, in % (a steady fleet: mostly heartbeats and polls that find nothing
# new, a fifth full polls as the shipped agent sends every tick, some event reports, a trickle of admin reads).
MIX = {
    "heartbeat": 35,
    "target-state incremental": 30,
    "target-state full": 20,
    "event report": 13,
    "admin list": 2,
}


def build_requests(
    url: str, fleet: Fleet, object_ids: Sequence[str], admin_pak: str
) -> list[tuple[str, bytes]]:
    """The load as prebuilt requests, kinds interleaved at random in the ``MIX`` proportions; each kind cycles
    through the agents on its own, so every agent sends every kind."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    kinds = [kind for kind, share in MIX.items() for _ in range(share * 20)]
    random.Random(11).shuffle(kinds)
    seen: Counter[str] = Counter()
    out: list[tuple[str, bytes]] = []
    for kind in kinds:
        n = seen[kind]
        seen[kind] += 1
        agent_id, pak = fleet[n % len(fleet)]
        auth = {"Authorization": f"Bearer {pak}"}
        body = b""
        if kind == "heartbeat":
            method, path = "POST", f"/api/v1/agents/{agent_id}/heartbeat"
        elif kind == "target-state incremental":
            method, path = "GET", f"/api/v1/agents/{agent_id}/target-state"
        elif kind == "target-state full":
            method, path = "GET", f"/api/v1/agents/{agent_id}/target-state?mode=full"
        elif kind == "event report":
            method, path = "POST", f"/api/v1/agents/{agent_id}/events"
            event = {
                "agent_id": str(agent_id),
                "deployment_object_id": object_ids[n % len(object_ids)],
                "event_type": "DEPLOY",
                "status": "SUCCESS",
                "message": "applied",
            }
            body = json.dumps(event).encode()
        else:
            method, path = "GET", "/api/v1/agents" if n % 2 else "/api/v1/stacks"
            auth = {"Authorization": f"Bearer {admin_pak}"}
        out.append((kind, raw_request(method, path, auth, host, int(port), body)))
    return out


def rss_series(sampler: Sampler, t0: float, t1: float) -> dict[str, float]:
    """The broker's RSS (MiB) at the first and last sample of ``[t0, t1]`` and its peak there."""
    inside = [s[2].get("broker", 0.0) for s in sampler.samples if t0 <= s[0] <= t1]
    if not inside:
        return {}
    return {"rss_start_mib": inside[0], "rss_end_mib": inside[-1], "rss_peak_mib": max(inside)}


def without_bench(r: dict[str, Any]) -> dict[str, Any]:
    """``other_cpu_pct`` without this process (the load generator and the sampler thread run here)."""
    if "other_cpu_pct" in r:
        r["other_cpu_pct"] = max(r["other_cpu_pct"] - r["bench_cpu_pct"], 0.0)
    return r


def measure_idle(sampler: Sampler, seconds: float, quiet_wait: float) -> dict[str, Any]:
    busy_before = wait_for_quiet(quiet_wait)
    t0, cpu0 = time.time(), time.process_time()
    time.sleep(seconds)
    t1, cpu1 = time.time(), time.process_time()
    return without_bench(
        {"busy_before_pct": busy_before, "bench_cpu_pct": 100.0 * (cpu1 - cpu0) / (t1 - t0)}
        | {
            "phase": "idle",
            "window": [t0, t1],
            "loadavg": loadavg(),
            **sampler.window(t0, t1),
            **rss_series(sampler, t0, t1),
        }
    )


def per_kind(log: Sequence[Sent], t0: float, t1: float) -> list[dict[str, Any]]:
    """Counts, statuses and service times (send to answer, not from the schedule) of each kind of request."""
    rows = []
    for kind in MIX:
        mine = [s for s in log if s.kind == kind and t0 <= s.sent <= t1]
        lat = latency_summary_ms([s.done - s.sent for s in mine])
        statuses = Counter(s.outcome for s in mine)
        rows.append(
            {
                "kind": kind,
                "count": len(mine),
                "rps": len(mine) / max(t1 - t0, 1e-9),
                "statuses": dict(statuses),
                "errors": sum(v for k, v in statuses.items() if not k.startswith("2")),
                **{f"{k}_ms": v for k, v in lat.items() if k != "n"},
            }
        )
    return rows


def run(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    pg = Postgres(directory).start()
    database = pg.open()
    broker: Broker | None = None
    sampler: Sampler | None = None
    try:
        print(
            f"seeding {args.stacks} stacks x {args.versions} versions, {args.agents} agents ...", flush=True
        )
        seed_catalogue(database, args.stacks, args.versions)
        fleet = seed_agents(database, 0, args.agents)
        seed_success_events(database, fleet)
        with database.uow() as uow:
            objects = uow.deployment_objects.target_state(TargetStateQuery(agent_id=fleet[0][0]))
        object_ids = [str(o.id) for o in objects]
        database.close()
        broker = Broker("broker", pg.url, directory, webhook_key_hex=new_webhook_key()).start()
        sampler = Sampler({"broker": lambda: [broker.pid] if broker else [], "postgres": pg.pids}, every=0.5)
        sampler.start()
        requests = build_requests(broker.url, fleet, object_ids, broker.admin_pak())
        rss_after_start = rss_series(sampler, 0.0, time.time() + 1)

        print(f"warm-up: {args.warmup:g} s at {args.rate:g} req/s ...", flush=True)
        run_open_loop(broker.url, requests, args.rate, args.warmup, args.connections)
        time.sleep(2.0)  # let the last answers and the pool settle before the idle window opens
        print(f"idle: {args.idle:g} s ...", flush=True)
        idle = measure_idle(sampler, args.idle, args.quiet_wait)

        print(f"load: {args.duration:g} s at {args.rate:g} req/s ...", flush=True)
        busy_before = wait_for_quiet(args.quiet_wait)
        wall0, mono0 = time.time(), time.monotonic()
        summary, log = run_open_loop(broker.url, requests, args.rate, args.duration, args.connections)
        t0, t1 = summary["window"]
        load = without_bench(
            {
                "phase": "load",
                "busy_before_pct": busy_before,
                "bench_cpu_pct": summary["loadgen_cpu_pct"],
                "loadavg": loadavg(),
                **summary,
                **sampler.window(t0, t1),
                **rss_series(sampler, t0, t1),
                "errors_total": summary["errors"]
                + sum(v for k, v in summary["statuses"].items() if not k.startswith("2")),
            }
        )
        kinds = per_kind(log, mono0 + (t0 - wall0), mono0 + (t1 - wall0))

        print(f"idle after load: {args.idle:g} s ...", flush=True)
        time.sleep(2.0)
        after = measure_idle(sampler, args.idle, args.quiet_wait)
        broker.check_alive()
        return {
            "rss_after_start": rss_after_start,
            "idle": idle,
            "load": load,
            "per_kind": kinds,
            "idle_after_load": after,
            "mix_pct": MIX,
            "full_answer_objects": len(object_ids),
        }
    finally:
        if sampler is not None:
            sampler.stop()
        if broker is not None:
            broker.stop()
        with contextlib.suppress(Exception):
            database.close()
        pg.stop()


def report(args: argparse.Namespace, results: dict[str, Any]) -> list[str]:
    idle, load, after = results["idle"], results["load"], results["idle_after_load"]

    def resources(label: str, r: dict[str, Any], seconds: float) -> list[object]:
        achieved = r.get("rps")
        return [
            label,
            seconds,
            r.get("offered_rps"),
            achieved,
            r.get("p50_ms"),
            r.get("p99_ms"),
            r.get("errors_total"),
            r.get("broker_cpu_pct"),
            r.get("postgres_cpu_pct"),
            r.get("bench_cpu_pct"),
            r.get("other_cpu_pct"),
            r.get("rss_start_mib"),
            r.get("rss_end_mib"),
            r.get("rss_peak_mib"),
            " / ".join(f"{x:.2f}" for x in r["loadavg"]),
        ]

    main = table(
        f"Broker resources: {args.agents} agents, {args.stacks} stacks x {args.versions} versions "
        f"(full answer {results['full_answer_objects']} objects), default settings; CPU in % of one core",
        [
            "phase",
            "s",
            "offered req/s",
            "req/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "broker CPU %",
            "PG CPU %",
            "bench CPU %",
            "other CPU %",
            "RSS start MiB",
            "RSS end MiB",
            "RSS peak MiB",
            "loadavg 1/5/15",
        ],
        [
            resources("idle (after warm-up)", idle, args.idle),
            resources(f"load {args.rate:g} req/s mix", load, args.duration),
            resources("idle after load", after, args.idle),
        ],
    )
    kinds = table(
        "Under load, per kind of request (service time: from send to answer)",
        ["kind", "share %", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "statuses"],
        [
            [
                k["kind"],
                MIX[k["kind"]],
                k["rps"],
                k["p50_ms"],
                k["p99_ms"],
                k["max_ms"],
                k["errors"],
                ", ".join(f"{s}: {n}" for s, n in sorted(k["statuses"].items())),
            ]
            for k in results["per_kind"]
        ],
    )
    return [main, kinds]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--agents", type=int, default=200, help="simulated agents (%(default)s)")
    p.add_argument(
        "--stacks", type=int, default=50, help="stacks every agent is associated with (%(default)s)"
    )
    p.add_argument("--versions", type=int, default=5, help="deployment objects per stack (%(default)s)")
    p.add_argument("--rate", type=float, default=200.0, help="open-loop request rate, req/s (%(default)s)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load measured (%(default)s)")
    p.add_argument("--idle", type=float, default=30.0, help="seconds of each idle window (%(default)s)")
    p.add_argument("--warmup", type=float, default=10.0, help="seconds of load before the idle window")
    p.add_argument("--connections", type=int, default=32, help="open-loop connections (%(default)s)")
    p.add_argument("--quiet-wait", type=float, default=30.0, help="max wait for an idle machine per phase, s")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (logs, database)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark("broker_resources", parse_args(argv), run, report)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
