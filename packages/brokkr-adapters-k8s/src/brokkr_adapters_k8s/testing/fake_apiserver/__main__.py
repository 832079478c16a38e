"""``brokkr-fake-apiserver``: run the fake API server in the foreground.

Handy for demos and for pointing a real agent process at a fake cluster: with
``--kubeconfig-out`` it writes a kubeconfig that any Kubernetes client can load.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Sequence

from .server import FakeApiServer


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="brokkr-fake-apiserver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback by default)")
    parser.add_argument("--port", type=int, default=6443, help="port to listen on (0 picks a free one)")
    parser.add_argument("--kubeconfig-out", metavar="PATH", help="write a kubeconfig pointing at this server")
    parser.add_argument(
        "--simulate-workloads",
        action="store_true",
        help="create ReplicaSets and Running pods for Deployments",
    )
    parser.add_argument(
        "--simulate-builds",
        type=float,
        metavar="SECONDS",
        help="play the Shipwright controller: every BuildRun succeeds SECONDS after it is created",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    server = FakeApiServer(
        host=args.host,
        port=args.port,
        simulate_workloads=args.simulate_workloads,
        simulate_builds=args.simulate_builds,
    )
    log = logging.getLogger("brokkr-fake-apiserver")
    if args.kubeconfig_out:
        log.info("kubeconfig written to %s", server.kubeconfig_path(args.kubeconfig_out))
    log.info("listening on %s", server.url)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
