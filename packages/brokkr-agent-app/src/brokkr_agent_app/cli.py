"""``brokkr-agent``: run the agent, or check its configuration and connections."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from brokkr_agent_app.runtime import ClusterFactory, StartupError, check, run
from brokkr_domain.errors import BrokkrError
from brokkr_domain.ports import Cluster
from brokkr_domain.redaction import RedactingFilter, level_of
from brokkr_domain.settings import AgentSettings, load_settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger("brokkr.agent")


def make_cluster(settings: AgentSettings) -> Cluster:
    from brokkr_adapters_k8s import KubernetesCluster

    return KubernetesCluster.from_kubeconfig(settings.kubeconfig_path, field_manager=settings.field_manager)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="brokkr-agent",
        description="The Brokkr agent: keeps one Kubernetes cluster equal to what the broker says.",
    )
    p.add_argument(
        "--config", help="TOML config file (default: $BROKKR_CONFIG_FILE); env BROKKR__AGENT__KEY wins"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="run the agent until SIGTERM/SIGINT")
    sub.add_parser("check", help="validate configuration, reach the broker and Kubernetes, print a report")
    return p


def main(
    argv: Sequence[str] | None = None,
    *,
    cluster_factory: ClusterFactory = make_cluster,
    environ: Mapping[str, str] | None = None,
    span_exporter: SpanExporter | None = None,
) -> int:
    """The console script. ``cluster_factory``, ``environ`` and ``span_exporter`` (replacing the OTLP
    exporter when ``telemetry`` enables tracing) are seams for embedding and tests."""
    args = _parser().parse_args(argv)
    env = os.environ if environ is None else environ
    try:
        settings = load_settings(args.config or env.get("BROKKR_CONFIG_FILE"), dict(env))
    except BrokkrError as exc:
        print(f"brokkr-agent: invalid configuration: {exc.message}", file=sys.stderr)
        return 1
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    logging.basicConfig(level=level_of(settings.log.level), handlers=[handler], force=True)
    if args.command == "check":
        lines = check(settings.agent, cluster_factory)
        for line in lines:
            print(f"{'ok  ' if line.ok else 'FAIL'} {line.name:<14} {line.detail}")
        return 0 if all(line.ok for line in lines) else 1
    try:
        telemetry = settings.telemetry.for_component("agent")
        return run(settings.agent, cluster_factory, telemetry=telemetry, span_exporter=span_exporter)
    except (StartupError, BrokkrError) as exc:
        message = exc.message if isinstance(exc, BrokkrError) else str(exc)
        print(f"brokkr-agent: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
