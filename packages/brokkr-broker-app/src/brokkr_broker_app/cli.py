"""``brokkr-broker``: serve the API, migrate the database, create identities and rotate keys."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from uuid import UUID

from brokkr_broker_app import bootstrap
from brokkr_broker_app.logs import configure_logging
from brokkr_domain.errors import BrokkrError
from brokkr_domain.model import Actor, Caller
from brokkr_domain.settings import Settings
from brokkr_domain.usecases import agents, generators
from brokkr_domain.usecases import bootstrap as init
from brokkr_domain.usecases.context import Services

log = logging.getLogger("brokkr.broker")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="brokkr-broker",
        description="The Brokkr broker: the control plane that agents pull their Kubernetes manifests from.",
    )
    p.add_argument(
        "--config", help="TOML config file (default: $BROKKR_CONFIG_FILE); env BROKKR__SECTION__KEY wins"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the API (migrates and initialises the database first)")
    serve.add_argument("--host", help="address to bind (default: broker.host, 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port to bind (default: broker.port, 3000)")
    serve.add_argument(
        "--workers", type=int, help="worker processes sharing the port (default: broker.workers, 1)"
    )

    sub.add_parser("migrate", help="apply database migrations and exit")

    create = sub.add_parser("create", help="create an agent or a generator and print its API key")
    what = create.add_subparsers(dest="kind", required=True, metavar="KIND")
    agent = what.add_parser("agent", help="register an agent (one per cluster)")
    agent.add_argument("--name", required=True)
    agent.add_argument("--cluster-name", required=True)
    gen = what.add_parser("generator", help="create a generator (a CI identity)")
    gen.add_argument("--name", required=True)
    gen.add_argument("--description")

    rotate = sub.add_parser("rotate", help="issue a new API key and print it (the old one stops working)")
    who = rotate.add_subparsers(dest="kind", required=True, metavar="KIND")
    who.add_parser("admin", help="rotate the admin key")
    ra = who.add_parser("agent", help="rotate an agent's key")
    ra.add_argument("id")
    rg = who.add_parser("generator", help="rotate a generator's key")
    rg.add_argument("id")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    loader = bootstrap.config_loader(args.config)
    try:
        settings = loader()
        configure_logging(settings.log.level, settings.log.format)
        if args.command == "serve":
            from brokkr_broker_app.server import serve

            return serve(
                settings,
                loader,
                host=args.host,
                port=args.port,
                workers=args.workers,
                config_file=bootstrap.config_path(args.config),
            )
        return _admin_command(args, settings)
    except BrokkrError as exc:
        print(f"brokkr-broker: error: {exc.message}", file=sys.stderr)
        return 1


def _admin_command(args: argparse.Namespace, settings: Settings) -> int:
    target = _uuid(args.id) if getattr(args, "id", None) is not None else None  # before touching the database
    with bootstrap.open_database(settings, auto_migrate=True) as database:
        if args.command == "migrate":
            schema = settings.database.schema
            print("database schema is up to date" + (f" (schema {schema})" if schema else ""))
            return 0
        services = Services(uow=database.uow)
        admin = Caller.system()
        init.ensure_initialized(services, preset_admin_hash=settings.broker.pak_hash)
        if args.command == "create" and args.kind == "agent":
            agent, pak = agents.create_agent(
                services, _admin(), name=args.name, cluster_name=args.cluster_name
            )
            print(
                f"Agent created successfully:\nID: {agent.id}\nName: {agent.name}\nCluster: {agent.cluster_name}"
            )
            print(f"Initial PAK: {pak}")
        elif args.command == "create":
            generator, pak = generators.create_generator(
                services, _admin(), name=args.name, description=args.description
            )
            print(
                f"Generator created successfully:\nID: {generator.id}\nName: {generator.name}\nInitial PAK: {pak}"
            )
        elif args.kind == "admin":
            print(f"New admin PAK: {init.rotate_admin(services, caller=admin)}")
        elif args.kind == "agent":
            assert target is not None
            agent, pak = agents.rotate_agent_pak(services, _admin(), target)
            print(f"New PAK for agent {agent.name} ({agent.id}): {pak}")
        else:
            assert target is not None
            generator, pak = generators.rotate_generator_pak(services, _admin(), target)
            print(f"New PAK for generator {generator.name} ({generator.id}): {pak}")
    return 0


def _admin() -> Caller:
    """CLI commands run with the operator's authority (they hold the database credentials)."""
    return Caller(actor=Actor.admin(), user_agent="brokkr-broker-cli")


def _uuid(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise BrokkrError(f"{text!r} is not a valid id (expected a UUID)") from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
