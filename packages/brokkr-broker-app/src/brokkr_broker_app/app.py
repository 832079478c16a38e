"""The Starlette application factory. No I/O at import time: ``create_app`` is called by the CLI or tests."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from brokkr_broker_app.auth import AuthMiddleware
from brokkr_broker_app.background import broker_tasks
from brokkr_broker_app.container import BrokerContainer
from brokkr_broker_app.cors import LiveCorsMiddleware
from brokkr_broker_app.errors import brokkr_error_handler, http_error_handler, unhandled_error_handler
from brokkr_broker_app.logs import RequestLogger, apply_log_level
from brokkr_broker_app.metrics import MetricsMiddleware
from brokkr_broker_app.routes import all_routes
from brokkr_broker_app.runtime import DYNAMIC_KEYS, ConfigChange, ReloadResult
from brokkr_broker_app.target_state_cache import InvalidateOnWrite
from brokkr_broker_app.tracing import Tracing, TracingMiddleware
from brokkr_domain.errors import BrokkrError
from brokkr_domain.model import Caller
from brokkr_domain.ports.http_sender import WebhookSender
from brokkr_domain.settings import Settings, flatten
from brokkr_domain.usecases import auth

log = logging.getLogger("brokkr.broker")


def _stringify(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    return "" if value is None else str(value)


def make_reloader(container: BrokerContainer) -> Callable[..., ReloadResult]:
    """Re-read defaults < file < environment, apply dynamic keys, report static ones as needing a restart."""

    def reload(caller: Caller, *, audit: bool = True) -> ReloadResult:
        loader: Callable[[], Settings] = container.config_loader()
        live = container.live()
        old = flatten(live.current)
        new_settings = loader()
        new = flatten(new_settings)
        changes = tuple(
            ConfigChange(
                key=key,
                old_value=_stringify(old[key]),
                new_value=_stringify(new[key]),
                applied=key in DYNAMIC_KEYS,
            )
            for key in sorted(new)
            if new[key] != old.get(key) and not key.endswith(("pak_hash", "encryption_key", "pak"))
        )
        live.replace(new_settings)
        result = ReloadResult(reloaded_at=datetime.now(UTC), changes=changes)
        log.info("configuration reloaded: %s", result.message)
        if not audit:
            return result
        container.services().audit_entry(
            caller,
            "config.reloaded",
            "config",
            None,
            {"changes": [{"key": c.key, "applied": c.applied} for c in changes]},
        )
        return result

    return reload


def create_app(container: BrokerContainer, *, run_background_tasks: bool = True) -> Starlette:
    services = container.services()
    live = container.live()
    metrics = container.metrics()
    cache = container.auth_cache()
    audit_writer = container.audit_writer()
    sender: WebhookSender = container.webhook_sender()
    target_state_cache = container.target_state_cache()
    tracing: Tracing | None = container.tracing()
    if tracing is not None:
        sender = tracing.webhook_sender(sender)
    tasks, worker = broker_tasks(
        services, live, sender, metrics, traced=tracing.task if tracing is not None else None
    )
    live.subscribe(lambda s: apply_log_level(s.log.level))
    live.subscribe(lambda s: setattr(cache, "ttl", float(s.broker.auth_cache_ttl_seconds)))

    def authenticate(header: str | None) -> Any:
        return auth.authenticate(services, header)

    if tracing is not None:
        authenticate = tracing.usecase(authenticate, "auth.authenticate")

    def refresh_fleet_metrics() -> None:
        with services.uow() as uow:
            agents = [(str(a.id), a.name, a.status, a.last_heartbeat) for a in uow.agents.list()]
            stacks = len(uow.stacks.list())
            objects = uow.deployment_objects.count()
        metrics.set_fleet(agents, stacks, objects)

    reload_config = make_reloader(container)
    broadcast = container.reload_broadcast()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop_listening = broadcast.subscribe(lambda: reload_config(Caller.system(), audit=False))
        if tracing is not None:  # attached for the lifespan only: several apps may share one engine in tests
            tracing.instrument_engine(container.engine())
        audit_writer.start()
        if run_background_tasks:
            for task in tasks:
                task.start()
        try:
            yield
        finally:
            for task in tasks:
                task.signal_stop()
            deadline = time.monotonic() + live.current.broker.shutdown_grace_seconds  # one grace for all
            for task in tasks:
                task.join(timeout=max(0.0, deadline - time.monotonic()))
            worker.close()
            stop_listening()
            audit_writer.stop()
            if tracing is not None:
                tracing.shutdown()
            log.info("broker stopped: background tasks finished, audit log flushed")

    middleware = [
        Middleware(MetricsMiddleware, metrics=metrics, on_request=RequestLogger()),
        Middleware(LiveCorsMiddleware, live=live),
        Middleware(AuthMiddleware, authenticate=authenticate, cache=cache, on_failure=services),
        Middleware(InvalidateOnWrite, cache=target_state_cache),
    ]
    if tracing is not None:  # outermost: the request span covers metrics, CORS and authentication
        middleware.insert(0, Middleware(TracingMiddleware, tracer=tracing.tracer))
    app = Starlette(
        routes=all_routes(),
        middleware=middleware,
        exception_handlers={
            BrokkrError: brokkr_error_handler,
            HTTPException: http_error_handler,
            Exception: unhandled_error_handler,
        },
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.tracing = tracing
    app.state.auth_cache = cache
    app.state.metrics = metrics
    app.state.ping = container.ping()
    app.state.refresh_fleet_metrics = refresh_fleet_metrics
    app.state.reload_config = reload_config
    app.state.reload_broadcast = broadcast
    app.state.webhook_sender = sender
    app.state.tasks = tasks
    app.state.audit_writer = audit_writer
    app.state.target_state_cache = target_state_cache
    return app
