"""``brokkr-broker serve``: migrate, initialise, print the first admin key once, run uvicorn, stop cleanly."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator

import uvicorn
from uvicorn.server import HANDLED_SIGNALS

from brokkr_broker_app import bootstrap
from brokkr_broker_app.app import create_app
from brokkr_broker_app.config_watch import ConfigFileWatcher
from brokkr_domain.settings import Settings
from brokkr_domain.usecases import bootstrap as init

log = logging.getLogger("brokkr.broker")


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
    del workers  # one process per command; run several commands (or replicas) to scale out
    bind_host = host or settings.broker.host
    bind_port = port or settings.broker.port
    with bootstrap.open_database(settings, auto_migrate=True) as database:
        container = bootstrap.build_container(settings, database, loader)
        services = container.services()
        new_pak = init.ensure_initialized(services, preset_admin_hash=settings.broker.pak_hash)
        if new_pak is not None:
            path = bootstrap.write_admin_pak(bootstrap.data_dir(settings), new_pak)
            print(
                "\n  Brokkr broker initialised. Admin API key (shown once, also saved to "
                f"{path}, readable only by you):\n\n    {new_pak}\n",
                flush=True,
            )
        shown = "127.0.0.1" if bind_host in ("0.0.0.0", "::") else bind_host  # noqa: S104
        where = "embedded PostgreSQL" if database.server is not None else "PostgreSQL"
        print(
            f"  Brokkr broker listening on http://{shown}:{bind_port} ({where}); API docs at /docs",
            flush=True,
        )
        app = create_app(container)
        watcher = ConfigFileWatcher(config_file, app.state.reload_config) if config_file else None
        if watcher is not None:
            watcher.start()
        config = uvicorn.Config(
            app,
            host=bind_host,
            port=bind_port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=settings.broker.shutdown_grace_seconds,
            lifespan="on",
        )
        try:
            _Server(config).run()
        finally:
            if watcher is not None:
                watcher.stop()
    log.info("broker exited cleanly")
    return 0
