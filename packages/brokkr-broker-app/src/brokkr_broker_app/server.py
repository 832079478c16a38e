"""``brokkr-broker serve``: migrate, initialise, print the first admin key once, run uvicorn (one process or
``--workers N``), stop cleanly."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.server import HANDLED_SIGNALS
from uvicorn.supervisors import Multiprocess

from brokkr_adapters_postgres.database import Database
from brokkr_broker_app import bootstrap
from brokkr_broker_app.app import create_app
from brokkr_broker_app.config_watch import ConfigFileWatcher
from brokkr_broker_app.container import BrokerContainer
from brokkr_broker_app.logs import configure_logging
from brokkr_domain.errors import BrokkrError
from brokkr_domain.settings import Settings
from brokkr_domain.usecases import bootstrap as init

log = logging.getLogger("brokkr.broker")

WORKER_DATABASE_ENV = "BROKKR_WORKER_DATABASE_URL"  # set by ``serve --workers N`` for its worker processes
WORKER_START_SECONDS = 60  # a worker imports and connects before it answers the supervisor's health check


class _Server(uvicorn.Server):
    """uvicorn without its final re-raise of SIGTERM/SIGINT.

    After its graceful shutdown uvicorn raises the captured signal again with the default handler, which kills
    the process on the spot: the database pool, an embedded PostgreSQL and the config watcher would never be
    closed. The signal has been honoured by then, so ``serve`` returns and cleans up instead (exit status 0).
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def serve(
    settings: Settings,
    loader: Callable[[], Settings],
    *,
    host: str | None,
    port: int | None,
    workers: int | None,
    config_file: str | None,
) -> int:
    count = workers or settings.broker.workers
    if count < 1:
        raise BrokkrError("--workers must be at least 1", code="invalid_configuration")
    bind_host = host or settings.broker.host
    bind_port = port or settings.broker.port
    with bootstrap.open_database(settings, auto_migrate=True) as database:
        container = bootstrap.build_container(settings, database, loader)
        new_pak = init.ensure_initialized(container.services(), preset_admin_hash=settings.broker.pak_hash)
        if new_pak is not None:
            path = bootstrap.write_admin_pak(bootstrap.data_dir(settings), new_pak)
            print(
                "\n  Brokkr broker initialised. Admin API key (shown once, also saved to "
                f"{path}, readable only by you):\n\n    {new_pak}\n",
                flush=True,
            )
        shown = "127.0.0.1" if bind_host in ("0.0.0.0", "::") else bind_host  # noqa: S104
        where = "embedded PostgreSQL" if database.server is not None else "PostgreSQL"
        processes = f", {count} worker processes" if count > 1 else ""
        print(
            f"  Brokkr broker listening on http://{shown}:{bind_port} ({where}{processes}); API docs at /docs",
            flush=True,
        )
        if count > 1:
            _run_workers(settings, database, config_file, host=bind_host, port=bind_port, count=count)
        else:
            _run_single(settings, container, config_file, host=bind_host, port=bind_port)
    log.info("broker exited cleanly")
    return 0


def _uvicorn_config(settings: Settings, app: Any, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=settings.broker.shutdown_grace_seconds,
        lifespan="on",
        **options,
    )


def _run_single(
    settings: Settings, container: BrokerContainer, config_file: str | None, *, host: str, port: int
) -> None:
    app = create_app(container)
    watcher = ConfigFileWatcher(config_file, app.state.reload_config) if config_file else None
    if watcher is not None:
        watcher.start()
    try:
        _Server(_uvicorn_config(settings, app, host=host, port=port)).run()
    finally:
        if watcher is not None:
            watcher.stop()


def _run_workers(
    settings: Settings, database: Database, config_file: str | None, *, host: str, port: int, count: int
) -> None:
    """uvicorn's supervisor: one listening socket, ``count`` worker processes, each a whole broker.

    This process has migrated and initialised the database (and runs the embedded server, if any); the
    workers find it, and the config file, through their environment. Workers are replicas: their background
    tasks share the work through the database like separate broker processes do.
    """
    os.environ[WORKER_DATABASE_ENV] = database.engine.url.render_as_string(hide_password=False)
    if config_file:
        os.environ[bootstrap.CONFIG_ENV] = config_file
    config = _uvicorn_config(
        settings,
        f"{__name__}:worker_app",
        factory=True,
        host=host,
        port=port,
        workers=count,
        timeout_worker_healthcheck=WORKER_START_SECONDS,
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()


class _ClosingApp:
    """An ASGI app that runs ``close`` once the wrapped app has finished its lifespan shutdown."""

    def __init__(self, app: ASGIApp, close: Callable[[], None]) -> None:
        self.app = app
        self.close = close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_then_close(message: Message) -> None:
            if message["type"].startswith("lifespan.shutdown"):
                self.close()
            await send(message)

        await self.app(scope, receive, send_then_close)


def worker_app() -> ASGIApp:
    """The app of one worker process of ``serve --workers N`` (uvicorn calls this factory in each worker)."""
    loader = bootstrap.config_loader(None)
    settings = loader()
    configure_logging(settings.log.level, settings.log.format)
    settings = attrs.evolve(
        settings, database=attrs.evolve(settings.database, url=os.environ[WORKER_DATABASE_ENV])
    )
    database = bootstrap.open_database(settings, auto_migrate=False)
    app = create_app(bootstrap.build_container(settings, database, lambda: _with_url(loader(), settings)))
    config_file = bootstrap.config_path(None)
    watcher = ConfigFileWatcher(config_file, app.state.reload_config) if config_file else None
    if watcher is not None:
        watcher.start()

    def close() -> None:
        if watcher is not None:
            watcher.stop()
        database.close()

    return _ClosingApp(app, close)


def _with_url(reloaded: Settings, running: Settings) -> Settings:
    """A reloaded configuration keeps the database the worker was started on."""
    return attrs.evolve(reloaded, database=attrs.evolve(reloaded.database, url=running.database.url))
