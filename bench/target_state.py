"""Target-state throughput and latency of one broker with N simulated agents polling it concurrently.

    uv run --frozen --no-sync python bench/target_state.py [--agents 100,1000,10000] [--duration 8]

Every simulated agent has its own id and PAK and polls ``GET /api/v1/agents/{id}/target-state?mode=full``
(what the shipped agent asks every tick) with ``Authorization: Bearer <pak>``. All agents share a label with
``--stacks`` stacks of ``--versions`` versions each, so every answer carries ``--stacks`` deployment objects.

For each fleet size N (agents are added to one database as N grows):

- ``nominal``: open loop at the fleet's real load, N / ``--interval`` req/s, times ``--compression`` (a
  compression of 5 plays 50 s of fleet time in 10 s);
- ``saturation``: closed loop, ``--concurrency`` connections sending back to back: the most it serves;
- ``half load``: open loop at half the saturation rate (the architecture target: p99 < 50 ms there).

The yardstick, measured in the same run with the same load generator: a bare Starlette + psycopg app doing
one primary-key SELECT (``bare_app.py``), and its ``/ping`` (no database) as the ceiling of the generator.
At the largest N, extra saturation rows: two broker processes on the one database, heartbeats
(``POST …/heartbeat``), and incremental polls with nothing new (``GET …/target-state`` without ``mode``, for
agents that reported SUCCESS for every object). CPU is sampled with psutil over each measured window only.

Before each phase every key the phase uses is put in the broker's auth cache (a large fleet is cycled through
``--active-agents`` of its agents), as in a fleet's steady state; entries still expire 60 s after they were
cached, so a phase sees about the misses a real fleet sees.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from common import (
    BENCH_DIR,
    Broker,
    ManagedProcess,
    Postgres,
    Sampler,
    free_port,
    new_webhook_key,
    run_benchmark,
    table,
    wait_for_quiet,
    wait_until,
)
from fleet import (
    Fleet,
    Request,
    bare_rows,
    heartbeats,
    polls,
    seed_agents,
    seed_catalogue,
    seed_success_events,
    warm_requests,
)
from loadgen import request_order

COLUMNS = [
    "system",
    "agents",
    "phase",
    "offered req/s",
    "req/s",
    "p50 ms",
    "p99 ms",
    "server CPU %",
    "PG CPU %",
    "loadgen CPU %",
    "other CPU %",
    "server RSS MiB",
    "errors",
    "late",
]


class LoadGenerator:
    """Runs ``loadgen.py`` in its own process per phase; the sampler measures the servers over the phase's
    measured window (the generator measures itself)."""

    def __init__(self, directory: Path, args: argparse.Namespace) -> None:
        self.directory = directory
        self.args = args
        self.runs = 0
        self.sampler: Sampler | None = None

    def run(
        self, targets: Sequence[str], requests: list[Request], discipline: str, **extra: Any
    ) -> dict[str, Any]:
        self.runs += 1
        spec = {
            "targets": [[u.split("//")[1].split(":")[0], int(u.rsplit(":", 1)[1])] for u in targets],
            "requests": requests,
            "discipline": discipline,
            "client": extra.pop("client", self.args.client),
            "connections": self.args.concurrency if discipline == "closed" else self.args.open_connections,
            "duration": self.args.duration,
            "warmup": self.args.warmup,
            **extra,
        }
        spec_path = self.directory / f"loadgen-{self.runs}.json"
        out_path = self.directory / f"loadgen-{self.runs}.out.json"
        spec_path.write_text(json.dumps(spec))
        quiet = wait_for_quiet(self.args.quiet_wait) if "passes" not in spec else None
        subprocess.run(
            [sys.executable, str(BENCH_DIR / "loadgen.py"), str(spec_path), str(out_path)],
            check=True,
            timeout=self.args.duration * 4 + self.args.warmup + 300,
        )
        result: dict[str, Any] = json.loads(out_path.read_text())
        if self.sampler is not None:
            result.update(self.sampler.window(*result["window"]))
            # The generator measures its own CPU over the window; the rest is the kernel's and other programs'.
            result["other_cpu_pct"] = max(result["other_cpu_pct"] - result["loadgen_cpu_pct"], 0.0)
        result["busy_before_pct"] = quiet
        return result


def row(system: str, agents: int | None, phase: str, result: dict[str, Any], server: str) -> dict[str, Any]:
    return {
        "system": system,
        "agents": agents,
        "phase": phase,
        "offered_rps": result.get("offered_rps"),
        "rps": result["rps"],
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "server_cpu_pct": result.get(f"{server}_cpu_pct"),
        "pg_cpu_pct": result.get("postgres_cpu_pct"),
        "loadgen_cpu_pct": result.get("loadgen_cpu_pct"),
        "other_cpu_pct": result.get("other_cpu_pct"),
        "machine_cpu_pct": result.get("machine_busy_pct"),
        "server_rss_mib": result.get(f"{server}_rss_mib"),
        "errors": result["errors"] + sum(v for k, v in result["statuses"].items() if not k.startswith("2")),
        "backlog": result["backlog"],
        "statuses": result["statuses"],
        "p90_ms": result["p90_ms"],
        "max_ms": result["max_ms"],
        "count": result["count"],
    }


def print_row(r: dict[str, Any]) -> None:
    late = f"  late {r['backlog']}" if r["backlog"] else ""
    print(
        f"  {r['system']:<34} N={r['agents'] or '-':<6} {r['phase']:<24} {r['rps']:8.0f} req/s  "
        f"p50 {r['p50_ms'] or 0:7.1f} ms  p99 {r['p99_ms'] or 0:7.1f} ms  errors {r['errors']}{late}",
        flush=True,
    )


# --- the run ----------------------------------------------------------------------------------------------


class Bench:
    """One run: PostgreSQL, the bare app, broker processes, the load generator and the rows measured."""

    def __init__(self, args: argparse.Namespace, directory: Path) -> None:
        self.args = args
        self.directory = directory
        self.pg = Postgres(directory).start()
        self.database = self.pg.open()
        self.key = new_webhook_key()
        self.env = {"BROKKR__LOG__LEVEL": args.log_level}
        self.processes: list[ManagedProcess] = []
        self.brokers: list[Broker] = []
        self.rows: list[dict[str, Any]] = []
        self.fleet: Fleet = []
        self.gen = LoadGenerator(directory, args)
        self.bare: ManagedProcess | None = None
        self.sampler = Sampler(
            {
                "broker": lambda: [b.pid for b in self.brokers if b.alive()],
                "bare": self._bare_pids,
                "postgres": self.pg.pids,
            }
        )
        self.gen.sampler = self.sampler

    def _bare_pids(self) -> list[int]:
        return [self.bare.pid] if self.bare is not None and self.bare.alive() else []

    def close(self) -> None:
        self.sampler.stop()
        for proc in reversed(self.processes):
            proc.stop()
        self.database.close()
        self.pg.stop()

    def record(
        self, system: str, n: int | None, phase: str, result: dict[str, Any], server: str
    ) -> dict[str, Any]:
        r = row(system, n, phase, result, server)
        self.rows.append(r)
        print_row(r)
        return r

    def start_broker(self, name: str, **env: str) -> Broker:
        broker = Broker(name, self.pg.url, self.directory, webhook_key_hex=self.key, env={**self.env, **env})
        self.processes.append(broker)
        self.brokers.append(broker.start())
        return broker

    def stop_brokers(self) -> None:
        for broker in self.brokers:
            broker.stop()
        self.brokers.clear()

    def grow_fleet(self, n: int) -> None:
        if len(self.fleet) < n:
            print(f"seeding agents up to {n:,} ...", flush=True)
            self.fleet += seed_agents(self.database, len(self.fleet), n - len(self.fleet))

    def active(self, fleet: Fleet) -> Fleet:
        """The agents a phase cycles through: all of them, or ``--active-agents`` of a large fleet, so that
        the phase never outruns the keys put in the auth cache before it (the rest stay in the database)."""
        return [fleet[i] for i in request_order(len(fleet))[: self.args.active_agents]]

    def warm(self, keys: Fleet) -> None:
        """Put ``keys`` in every replica's auth cache (each has its own; entries live for the TTL, 60 s)."""
        for broker in self.brokers if keys else []:
            self.gen.run([broker.url], warm_requests(keys), "closed", passes=1)

    def yardstick(self) -> None:
        """The bare app: the generator's ceiling (/ping) and one SELECT per request (/row)."""
        port = free_port()
        argv = [sys.executable, str(BENCH_DIR / "bare_app.py"), "--dsn", self.pg.dsn()]
        subprocess.run([*argv, "--setup"], check=True)
        self.bare = ManagedProcess("bare", [*argv, "--port", str(port)], {}, self.directory).start()
        self.processes.append(self.bare)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{url}/ping").status_code == 200, 30, "the bare app")
        rows = bare_rows(self.fleet)
        ping = [("GET", "/ping", h) for _, _, h in rows]
        for client in ("raw", "httpx") if self.args.client == "raw" else (self.args.client,):
            self.record(
                f"bare /ping ({client} client)",
                None,
                "saturation",
                self.gen.run([url], ping, "closed", client=client),
                "bare",
            )
        sat = self.record(
            "bare /row (1 SELECT)", None, "saturation", self.gen.run([url], rows, "closed"), "bare"
        )
        result = self.gen.run([url], rows, "open", rate=sat["rps"] / 2)
        self.record("bare /row (1 SELECT)", None, "half load", result, "bare")
        self.bare.stop()

    def phase(
        self,
        system: str,
        n: int,
        phase: str,
        requests: list[Request],
        keys: Fleet,
        discipline: str,
        **extra: Any,
    ) -> dict[str, Any]:
        """Warm every replica's auth cache with ``keys`` (entries expire after the TTL, 60 s by default), then
        measure one phase against all running brokers."""
        self.warm(keys)
        result = self.gen.run([b.url for b in self.brokers], requests, discipline, **extra)
        return self.record(system, n, phase, result, "broker")

    def fleet_phases(self, n: int) -> None:
        """Nominal, saturation and half load of full target-state polls by a fleet of ``n`` agents."""
        self.grow_fleet(n)
        fleet, a, name = self.active(self.fleet), self.args, "broker target-state full"
        nominal = n / a.interval * a.compression
        label = f"nominal ({a.interval:g} s" + (f" /{a.compression:g})" if a.compression != 1 else ")")
        self.phase(name, n, label, polls(fleet), fleet, "open", rate=nominal)
        sat = self.phase(name, n, "saturation", polls(fleet), fleet, "closed")
        self.phase(name, n, "half load", polls(fleet), fleet, "open", rate=sat["rps"] / 2)

    def extras(self) -> None:
        """At the largest fleet: heartbeats, incremental polls with nothing new, two replicas, no auth cache."""
        fleet, n = self.active(self.fleet), len(self.fleet)
        steady = fleet[: min(200, n)]
        seed_success_events(self.database, steady)
        self.phase("broker heartbeat", n, "saturation", heartbeats(fleet), fleet, "closed")
        nothing_new = "saturation (200 agents)"
        self.phase("broker incremental, nothing new", n, nothing_new, polls(steady, ""), steady, "closed")
        self.start_broker("broker-2")
        self.phase("2 brokers target-state full", n, "saturation", polls(fleet), fleet, "closed")
        self.phase("2 brokers incremental, nothing new", n, nothing_new, polls(steady, ""), steady, "closed")
        self.stop_brokers()
        self.start_broker("broker-nocache", BROKKR__BROKER__AUTH_CACHE_TTL_SECONDS="0")
        self.phase("broker heartbeat, auth cache off", n, "saturation", heartbeats(fleet), [], "closed")


def run(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    sizes = sorted(int(n) for n in args.agents.split(","))
    bench = Bench(args, directory)
    try:
        print(f"seeding {args.stacks} stacks x {args.versions} versions ...", flush=True)
        seed_catalogue(bench.database, args.stacks, args.versions)
        bench.sampler.start()
        bench.grow_fleet(sizes[0])
        bench.yardstick()
        broker = bench.start_broker("broker-1")
        for n in sizes:
            bench.fleet_phases(n)
        agent_id, pak = bench.fleet[0]
        probe = httpx.get(
            f"{broker.url}/api/v1/agents/{agent_id}/target-state?mode=full",
            headers={"Authorization": f"Bearer {pak}"},
        )
        if not args.no_extras:
            bench.extras()
        return {
            "rows": bench.rows,
            "response_bytes": len(probe.content),
            "response_objects": len(probe.json()),
        }
    finally:
        bench.close()


def _per_request(cpu_pct: float | None, rps: float) -> float | None:
    """CPU milliseconds per request from a CPU percentage (of one core) and a request rate."""
    return cpu_pct * 10.0 / rps if cpu_pct is not None and rps else None


def report(args: argparse.Namespace, results: dict[str, Any]) -> list[str]:
    rows = results["rows"]
    main = table(
        f"Target state: {args.stacks} stacks x {args.versions} versions per agent, full answer "
        f"{results['response_bytes']:,} bytes / {results['response_objects']} objects; "
        f"{args.concurrency} connections closed loop, {args.open_connections} open loop, {args.duration:g} s each",
        COLUMNS,
        [
            [
                r["system"],
                r["agents"],
                r["phase"],
                r["offered_rps"],
                r["rps"],
                r["p50_ms"],
                r["p99_ms"],
                r["server_cpu_pct"],
                r["pg_cpu_pct"],
                r["loadgen_cpu_pct"],
                r["other_cpu_pct"],
                r["server_rss_mib"],
                r["errors"],
                r["backlog"],
            ]
            for r in rows
        ],
    )
    bare = next(r for r in rows if r["system"].startswith("bare /row") and r["phase"] == "saturation")
    ratios = table(
        "Saturation relative to the bare one-SELECT endpoint, and CPU per request (same generator, same run)",
        ["system", "agents", "req/s", "x bare /row", "server CPU ms/req", "PG CPU ms/req"],
        [
            [
                r["system"],
                r["agents"],
                r["rps"],
                r["rps"] / bare["rps"],
                _per_request(r["server_cpu_pct"], r["rps"]),
                _per_request(r["pg_cpu_pct"], r["rps"]),
            ]
            for r in rows
            if r["phase"].startswith("saturation")
        ],
    )
    return [main, ratios]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument(
        "--agents", default="100,1000,10000", help="fleet sizes, comma-separated (default %(default)s)"
    )
    p.add_argument(
        "--stacks", type=int, default=50, help="stacks every agent is associated with (%(default)s)"
    )
    p.add_argument("--versions", type=int, default=5, help="deployment objects per stack (%(default)s)")
    p.add_argument("--interval", type=float, default=10.0, help="agents' polling interval, s (%(default)s)")
    p.add_argument("--compression", type=float, default=1.0, help="time compression of the nominal phase")
    p.add_argument("--duration", type=float, default=8.0, help="seconds measured per phase (%(default)s)")
    p.add_argument("--warmup", type=float, default=2.0, help="closed-loop warm-up, s (%(default)s)")
    p.add_argument("--concurrency", type=int, default=32, help="closed-loop connections (%(default)s)")
    p.add_argument("--open-connections", type=int, default=64, help="open-loop connections (%(default)s)")
    p.add_argument("--client", choices=["raw", "httpx"], default="raw", help="load generator client")
    p.add_argument("--log-level", default="info", help="broker log level (default info, as shipped)")
    p.add_argument(
        "--no-extras", action="store_true", help="skip the heartbeat / incremental / 2-broker rows"
    )
    p.add_argument(
        "--active-agents", type=int, default=4000, help="agents a phase cycles through at most (%(default)s)"
    )
    p.add_argument("--quiet-wait", type=float, default=10.0, help="max wait for an idle machine per phase, s")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (logs, database)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark("target_state", parse_args(argv), run, report)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
