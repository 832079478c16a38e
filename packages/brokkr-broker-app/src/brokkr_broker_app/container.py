"""The broker's one dependency-injector container: every long-lived component, built once per process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dependency_injector import containers, providers

from brokkr_adapters_postgres.notifications import Notifications
from brokkr_broker_app.audit_writer import BatchedAuditWriter
from brokkr_broker_app.auth import AuthCache
from brokkr_broker_app.config_broadcast import ReloadBroadcast
from brokkr_broker_app.metrics import BrokerMetrics
from brokkr_broker_app.runtime import LiveSettings
from brokkr_broker_app.target_state_cache import TargetStateCache
from brokkr_broker_app.tracing import build_tracing
from brokkr_broker_app.webhook_sender import HttpxWebhookSender
from brokkr_domain.pak import PakSettings
from brokkr_domain.ports import RandomIds, SystemClock
from brokkr_domain.settings import Settings, Telemetry
from brokkr_domain.usecases.context import Services


def _pak_settings(settings: Settings) -> PakSettings:
    pak = settings.pak
    return PakSettings(
        prefix=pak.prefix,
        short_token_prefix=pak.short_token_prefix,
        short_token_length=pak.short_token_length,
        long_token_length=pak.long_token_length,
    )


def _target_state_version(notifications: Notifications | None) -> Callable[[], int | None]:
    """Without notifications nothing is cached (the version is always unknown)."""
    if notifications is None:
        return lambda: None
    return lambda: notifications.version


def _broker_telemetry(settings: Settings) -> Telemetry:
    return settings.telemetry.for_component("broker")


class BrokerContainer(containers.DeclarativeContainer):
    """``settings``, ``uow_factory``, ``engine``, ``ping`` and ``config_loader`` are provided by the caller.

    ``tracing`` is None unless ``telemetry`` enables it for the broker; ``span_exporter`` replaces its OTLP
    exporter (tests override it with an in-memory one).
    """

    settings = providers.Dependency(instance_of=Settings)
    uow_factory: providers.Dependency[Any] = providers.Dependency()
    engine: providers.Dependency[Any] = providers.Dependency()
    ping: providers.Dependency[Any] = providers.Dependency()
    config_loader: providers.Dependency[Any] = providers.Dependency()

    # Optional: the autocommit unit-of-work factory, and the database's notifications (``Notifications``).
    autocommit_factory: providers.Provider[Any] = providers.Object(None)
    notifications: providers.Provider[Any] = providers.Object(None)

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(RandomIds)
    live = providers.Singleton(LiveSettings, settings)
    audit_writer = providers.Singleton(BatchedAuditWriter, uow_factory)
    services = providers.Singleton(
        Services,
        uow=uow_factory,
        clock=clock,
        ids=ids,
        audit=audit_writer,
        pak_settings=providers.Callable(_pak_settings, settings),
        autocommit=autocommit_factory,
    )
    auth_cache = providers.Singleton(
        AuthCache, ttl_seconds=providers.Callable(lambda s: float(s.broker.auth_cache_ttl_seconds), settings)
    )
    metrics = providers.Singleton(BrokerMetrics)
    webhook_sender = providers.Singleton(HttpxWebhookSender)
    span_exporter: providers.Provider[Any] = providers.Object(None)
    tracing = providers.Singleton(
        build_tracing, providers.Callable(_broker_telemetry, settings), exporter=span_exporter
    )
    target_state_cache = providers.Singleton(
        TargetStateCache, providers.Callable(_target_state_version, notifications)
    )
    reload_broadcast = providers.Singleton(ReloadBroadcast, notifications)
