"""Live settings shared by the app, its middleware and its background tasks.

Hot reload swaps the ``Settings`` object here; everything that must react to dynamic keys reads from this holder
on each use (CORS on each request, background tasks on each tick, logging on reload).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from brokkr_domain.settings import Settings

# Keys applied live on reload; any other changed key is reported as needing a restart.
DYNAMIC_KEYS = frozenset(
    {
        "log.level",
        "cors.allowed_origins",
        "cors.allowed_methods",
        "cors.allowed_headers",
        "cors.max_age_seconds",
        "broker.webhook_delivery_interval_seconds",
        "broker.webhook_delivery_batch_size",
        "broker.diagnostic_cleanup_interval_seconds",
        "broker.diagnostic_max_age_hours",
        "broker.webhook_cleanup_retention_days",
        "broker.audit_log_retention_days",
        "broker.auth_cache_ttl_seconds",
        "broker.work_order_maintenance_interval_seconds",
    }
)


@attrs.frozen(kw_only=True)
class ConfigChange:
    key: str
    old_value: str
    new_value: str
    applied: bool


@attrs.frozen(kw_only=True)
class ReloadResult:
    reloaded_at: datetime
    changes: tuple[ConfigChange, ...]

    @property
    def message(self) -> str:
        applied = [c for c in self.changes if c.applied]
        restart = [c.key for c in self.changes if not c.applied]
        if not self.changes:
            return "No changes detected"
        text = f"{len(applied)} setting(s) updated"
        if restart:
            text += f"; restart required for: {', '.join(restart)}"
        return text


class LiveSettings:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Settings], None]] = []

    @property
    def current(self) -> Settings:
        return self._settings

    def subscribe(self, listener: Callable[[Settings], None]) -> None:
        self._listeners.append(listener)

    def replace(self, new: Settings) -> Settings:
        """Apply the dynamic keys of ``new``; static keys keep their startup values. Returns the live settings."""
        with self._lock:
            merged = _merge_dynamic(self._settings, new)
            self._settings = merged
        for listener in self._listeners:
            listener(merged)
        return merged


def _merge_dynamic(old: Settings, new: Settings) -> Settings:
    sections: dict[str, Any] = {}
    for key in DYNAMIC_KEYS:
        section, name = key.split(".", 1)
        current = sections.get(section, getattr(old, section))
        sections[section] = attrs.evolve(current, **{name: getattr(getattr(new, section), name)})
    return attrs.evolve(old, **sections)
