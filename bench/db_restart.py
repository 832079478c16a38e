"""How the broker behaves while its database restarts, and how long it takes to serve again afterwards.

    uv run --frozen --no-sync python bench/db_restart.py [--cycles 5] [--down 3] [--rate 50]

One embedded PostgreSQL and one ``brokkr-broker serve`` with default settings; ``--agents`` agents (each with
its own PAK) send a steady open loop of ``--rate`` req/s: half heartbeats, half incremental target-state polls.
After ``--warmup`` s, each of ``--cycles`` cycles stops PostgreSQL (``pg_ctl stop -m fast``: sessions are cut),
keeps it down ``--down`` s, starts it again on the same port and leaves it up ``--up`` s.

Per cycle, every request sent from the moment the stop began until PostgreSQL accepted connections again
counts as *while down*: its status (the broker should answer 503 with a JSON error body, fast), and separately
500s, connection errors, other codes and 2xx (requests the broker finished before the stop cut its sessions). The moment PostgreSQL accepts connections is found by a probe connecting every
5 ms while it starts. Recovery is the time from that moment to the broker's first 200 and to the first 200 of
a sustained run (``--sustain`` s of answers, all 200). A probe with httpx checks the 503's body once per cycle.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import psycopg
from common import (
    Broker,
    Postgres,
    Sent,
    latency_summary_ms,
    loadavg,
    new_webhook_key,
    raw_request,
    run_benchmark,
    run_open_loop,
    table,
)
from fleet import Fleet, seed_agents, seed_catalogue


def build_requests(url: str, fleet: Fleet) -> list[tuple[str, bytes]]:
    """Heartbeats and incremental polls, alternating, each agent in turn."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    out: list[tuple[str, bytes]] = []
    for agent_id, pak in fleet:
        auth = {"Authorization": f"Bearer {pak}"}
        out.append(
            ("heartbeat", raw_request("POST", f"/api/v1/agents/{agent_id}/heartbeat", auth, host, int(port)))
        )
        out.append(
            ("poll", raw_request("GET", f"/api/v1/agents/{agent_id}/target-state", auth, host, int(port)))
        )
    return out


class Cycles:
    """Stops and starts PostgreSQL on a thread while the load runs; every moment is ``time.monotonic()``."""

    def __init__(
        self, args: argparse.Namespace, pg: Postgres, broker: Broker, probe: tuple[str, str]
    ) -> None:
        self.args = args
        self.pg = pg
        self.broker = broker
        self.probe_path, self.probe_pak = probe
        self.cycles: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._run, name="db-cycles", daemon=True)
        self.failure: BaseException | None = None

    def _accepting(self) -> bool:
        try:
            with psycopg.connect(self.pg.dsn("brokkr"), connect_timeout=1):
                return True
        except psycopg.Error:
            return False

    def _body_probe(self) -> dict[str, Any]:
        """One request with httpx while the database is down: status, content type and the JSON body."""
        try:
            r = httpx.get(
                f"{self.broker.url}{self.probe_path}",
                headers={"Authorization": f"Bearer {self.probe_pak}"},
                timeout=30,
            )
        except httpx.HTTPError as exc:
            return {"error": type(exc).__name__}
        try:
            body: Any = r.json()
        except ValueError:
            body = r.text[:200]
        return {"status": r.status_code, "content_type": r.headers.get("content-type"), "body": body}

    def _cycle(self) -> dict[str, Any]:
        c: dict[str, Any] = {"loadavg_before": loadavg(), "stop_begin": time.monotonic()}
        self.pg.stop()
        c["stopped"] = time.monotonic()
        time.sleep(min(0.5, self.args.down / 2))
        c["body_probe"] = self._body_probe()
        time.sleep(max(self.args.down - (time.monotonic() - c["stopped"]), 0.0))
        c["start_begin"] = time.monotonic()
        starter = threading.Thread(target=self.pg.start, name="pg-start", daemon=True)
        starter.start()
        while not self._accepting():
            time.sleep(0.005)
        c["accepting"] = time.monotonic()
        starter.join()
        c["start_returned"] = time.monotonic()
        return c

    def _run(self) -> None:
        try:
            time.sleep(self.args.warmup)
            for n in range(self.args.cycles):
                print(f"  cycle {n + 1}: stopping PostgreSQL for {self.args.down:g} s", flush=True)
                self.cycles.append(self._cycle())
                time.sleep(self.args.up)
        except BaseException as exc:  # reported by the main thread
            self.failure = exc


def analyse(cycle: dict[str, Any], log: Sequence[Sent], until: float, sustain_count: int) -> dict[str, Any]:
    """Statuses while down, the 503s' latency, and recovery times for one cycle (``until``: the next stop)."""
    down = [s for s in log if cycle["stop_begin"] <= s.sent < cycle["accepting"]]
    outcomes = Counter(s.outcome for s in down)
    unavailable = latency_summary_ms([s.done - s.sent for s in down if s.outcome == "503"])
    answered = sorted((s for s in log if cycle["stopped"] <= s.done < until), key=lambda s: s.done)
    first_ok = next((s for s in answered if s.outcome.startswith("2")), None)
    sustained: Sent | None = None
    run_start, run_length = 0, 0
    for i, s in enumerate(answered):
        if s.outcome.startswith("2"):
            if run_length == 0:
                run_start = i
            run_length += 1
            if run_length >= sustain_count:
                sustained = answered[run_start]
                break
        else:
            run_length = 0
    after = [s for s in answered if sustained is not None and s.done >= sustained.done]
    return {
        "stop_s": cycle["stopped"] - cycle["stop_begin"],
        "start_s": cycle["accepting"] - cycle["start_begin"],
        "down_s": cycle["accepting"] - cycle["stop_begin"],
        "sent_while_down": len(down),
        "statuses_while_down": dict(outcomes),
        "n_503": outcomes.get("503", 0),
        "n_500": outcomes.get("500", 0),
        "n_connection_errors": sum(v for k, v in outcomes.items() if not k.isdigit()),
        "n_2xx": sum(v for k, v in outcomes.items() if k.startswith("2")),
        "n_other": sum(
            v for k, v in outcomes.items() if k.isdigit() and k[0] != "2" and k not in ("503", "500")
        ),
        "p50_503_ms": unavailable["p50"],
        "p99_503_ms": unavailable["p99"],
        "max_503_ms": unavailable["max"],
        "first_ok_s": None if first_ok is None else first_ok.done - cycle["accepting"],
        "sustained_ok_s": None if sustained is None else sustained.done - cycle["accepting"],
        "non_ok_after_sustained": sum(1 for s in after if not s.outcome.startswith("2")),
        "body_probe": cycle["body_probe"],
        "loadavg_before": cycle["loadavg_before"],
    }


def run(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    pg = Postgres(directory).start()
    broker: Broker | None = None
    try:
        database = pg.open()
        try:
            seed_catalogue(database, args.stacks, 1)
            fleet = seed_agents(database, 0, args.agents)
        finally:
            database.close()
        broker = Broker("broker", pg.url, directory, webhook_key_hex=new_webhook_key()).start()
        agent_id, pak = fleet[0]
        cycles = Cycles(args, pg, broker, (f"/api/v1/agents/{agent_id}/target-state", pak))
        duration = args.warmup + args.cycles * (args.down + args.up + 1.0) + 2.0
        print(f"load: {args.rate:g} req/s for ~{duration:.0f} s, {args.cycles} database restarts", flush=True)
        cycles.thread.start()
        summary, log = run_open_loop(broker.url, build_requests(broker.url, fleet), args.rate, duration, 16)
        cycles.thread.join()
        if cycles.failure is not None:
            raise cycles.failure
        broker.check_alive()
        sustain_count = max(1, round(args.sustain * args.rate))
        bounds = [c["stop_begin"] for c in cycles.cycles[1:]] + [float("inf")]
        rows = [analyse(c, log, until, sustain_count) for c, until in zip(cycles.cycles, bounds, strict=True)]
        baseline = [s for s in log if s.done < cycles.cycles[0]["stop_begin"]] if cycles.cycles else []
        return {
            "cycles": rows,
            "load": summary,
            "baseline_before_first_stop": {
                "statuses": dict(Counter(s.outcome for s in baseline)),
                **latency_summary_ms([s.done - s.sent for s in baseline]),
            },
            "loadavg_end": loadavg(),
        }
    finally:
        if broker is not None:
            broker.stop()
        pg.stop()


def report(args: argparse.Namespace, results: dict[str, Any]) -> list[str]:
    rows = results["cycles"]
    base = results["baseline_before_first_stop"]
    cycles = table(
        f"Database restarts under {args.rate:g} req/s (heartbeats + incremental polls, {args.agents} agents): "
        f"PostgreSQL down {args.down:g} s per cycle; recovery from 'PostgreSQL accepts connections'; "
        f"sustained = {args.sustain:g} s of 2xx; before the first stop p50 {base['p50']:.1f} ms, "
        f"p99 {base['p99']:.1f} ms",
        [
            "cycle",
            "stop s",
            "start s",
            "sent while down",
            "503",
            "500",
            "conn errors",
            "other",
            "2xx",
            "503 p50 ms",
            "503 p99 ms",
            "503 max ms",
            "first 2xx after s",
            "sustained 2xx after s",
            "non-2xx after",
            "loadavg 1 min",
        ],
        [
            [
                i + 1,
                r["stop_s"],
                r["start_s"],
                r["sent_while_down"],
                r["n_503"],
                r["n_500"],
                r["n_connection_errors"],
                r["n_other"],
                r["n_2xx"],
                r["p50_503_ms"],
                r["p99_503_ms"],
                r["max_503_ms"],
                r["first_ok_s"],
                r["sustained_ok_s"],
                r["non_ok_after_sustained"],
                r["loadavg_before"][0],
            ]
            for i, r in enumerate(rows)
        ],
    )
    probes = table(
        "The 503 while down, as one client sees it (one httpx GET per cycle, 0.5 s after the stop)",
        ["cycle", "status", "content type", "body"],
        [
            [
                i + 1,
                r["body_probe"].get("status"),
                r["body_probe"].get("content_type"),
                str(r["body_probe"].get("body", r["body_probe"].get("error"))),
            ]
            for i, r in enumerate(rows)
        ],
    )
    return [cycles, probes]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--cycles", type=int, default=5, help="database restarts (%(default)s)")
    p.add_argument("--down", type=float, default=3.0, help="seconds PostgreSQL stays stopped (%(default)s)")
    p.add_argument("--up", type=float, default=8.0, help="seconds it stays up between stops (%(default)s)")
    p.add_argument("--rate", type=float, default=50.0, help="open-loop request rate, req/s (%(default)s)")
    p.add_argument("--agents", type=int, default=50, help="simulated agents (%(default)s)")
    p.add_argument(
        "--stacks", type=int, default=5, help="stacks every agent is associated with (%(default)s)"
    )
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of load before the first stop")
    p.add_argument("--sustain", type=float, default=1.0, help="seconds of 2xx that count as recovered")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (logs, database)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark("db_restart", parse_args(argv), run, report)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
