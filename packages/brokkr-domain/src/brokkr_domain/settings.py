"""Configuration: defaults < TOML file < environment (``BROKKR__SECTION__KEY``), validated and typed.

Both apps share one settings model (the reference has one file for broker and agent). Loading is pure: the caller
passes the file path and the environment mapping, so tests never touch ``os.environ``. Every invalid value stops
startup with a ``ConfigError`` naming the key (``broker.webhook_delivery_batch_size: expected an integer ...``).
"""

from __future__ import annotations

import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from brokkr_domain.errors import ValidationError

ENV_PREFIX = "BROKKR__"
HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class ConfigError(ValidationError):
    """A configuration value is missing, malformed or out of range."""

    code = "invalid_configuration"


def _positive(_inst: object, attr: attrs.Attribute[Any], value: int | float) -> None:
    if value <= 0:
        raise ConfigError(f"{attr.name}: must be greater than 0, got {value}")


def _non_negative(_inst: object, attr: attrs.Attribute[Any], value: int | float) -> None:
    if value < 0:
        raise ConfigError(f"{attr.name}: must not be negative, got {value}")


def _optional_hex64(_inst: object, attr: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and value != "" and not HEX64.match(value):
        raise ConfigError(f"{attr.name}: must be 64 hexadecimal characters")


def _one_of(*choices: str) -> Any:
    def check(_inst: object, attr: attrs.Attribute[Any], value: str) -> None:
        if value.lower() not in choices:
            raise ConfigError(f"{attr.name}: must be one of {', '.join(choices)}, got {value!r}")

    return check


@attrs.frozen(kw_only=True)
class DatabaseSettings:
    url: str | None = None  # None ⇒ embedded PostgreSQL in data_dir
    schema: str | None = None
    data_dir: str | None = None  # None ⇒ the user's data directory
    pool_size: int = attrs.field(default=10, validator=_positive)


@attrs.frozen(kw_only=True)
class LogSettings:
    level: str = attrs.field(
        default="info", validator=_one_of("trace", "debug", "info", "warn", "warning", "error")
    )
    format: str = attrs.field(default="text", validator=_one_of("text", "json"))


@attrs.frozen(kw_only=True)
class BrokerSettings:
    host: str = "0.0.0.0"  # noqa: S104 - a server is meant to be reachable; operators narrow it
    port: int = attrs.field(default=3000, validator=_positive)
    workers: int = attrs.field(default=1, validator=_positive)
    pak_hash: str | None = attrs.field(default=None, validator=_optional_hex64)
    diagnostic_cleanup_interval_seconds: int = attrs.field(default=900, validator=_positive)
    diagnostic_max_age_hours: int = attrs.field(default=1, validator=_positive)
    webhook_encryption_key: str | None = attrs.field(default=None, validator=_optional_hex64)
    webhook_delivery_interval_seconds: int = attrs.field(default=5, validator=_positive)
    webhook_delivery_batch_size: int = attrs.field(default=50, validator=_positive)
    webhook_cleanup_retention_days: int = attrs.field(default=7, validator=_positive)
    audit_log_retention_days: int = attrs.field(default=90, validator=_positive)
    auth_cache_ttl_seconds: int = attrs.field(default=60, validator=_non_negative)
    work_order_maintenance_interval_seconds: int = attrs.field(default=10, validator=_positive)
    shutdown_grace_seconds: int = attrs.field(default=20, validator=_non_negative)


@attrs.frozen(kw_only=True)
class PakSection:
    prefix: str = "brokkr"
    short_token_prefix: str = "BR"  # noqa: S105 - a public key prefix, not a secret
    short_token_length: int = attrs.field(default=8, validator=_positive)
    long_token_length: int = attrs.field(default=24, validator=_positive)
    rng: str = "osrng"  # accepted for compatibility; the OS CSPRNG is always used
    digest: int = 8  # accepted for compatibility; SHA-256 is always used


@attrs.frozen(kw_only=True)
class CorsSettings:
    allowed_origins: tuple[str, ...] = ("http://localhost:3001",)
    allowed_methods: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    allowed_headers: tuple[str, ...] = ("Authorization", "Content-Type")
    max_age_seconds: int = attrs.field(default=3600, validator=_non_negative)


@attrs.frozen(kw_only=True)
class AgentSettings:
    broker_url: str = "http://localhost:3000"
    pak: str | None = None
    agent_name: str | None = None
    cluster_name: str | None = None
    polling_interval: float = attrs.field(default=10.0, validator=_positive)
    kubeconfig_path: str | None = None  # None ⇒ in-cluster configuration
    max_retries: int = attrs.field(default=60, validator=_positive)
    health_port: int = attrs.field(default=8080, validator=_non_negative)
    deployment_health_enabled: bool = True
    deployment_health_interval: float = attrs.field(default=60.0, validator=_positive)
    diagnostics_interval: float = attrs.field(default=10.0, validator=_positive)
    webhook_interval: float = attrs.field(default=10.0, validator=_positive)
    work_order_concurrency: int = attrs.field(default=2, validator=_positive)
    field_manager: str = "brokkr-agent"
    request_timeout_seconds: float = attrs.field(default=30.0, validator=_positive)


@attrs.frozen(kw_only=True)
class TelemetryComponent:
    enabled: bool | None = None
    otlp_endpoint: str | None = None
    service_name: str | None = None
    sampling_rate: float | None = None


@attrs.frozen(kw_only=True)
class Telemetry:
    """The effective tracing settings of one component, after its overrides were applied."""

    enabled: bool
    otlp_endpoint: str
    service_name: str
    sampling_rate: float


@attrs.frozen(kw_only=True)
class TelemetrySettings:
    enabled: bool = False
    otlp_endpoint: str = "http://localhost:4317"
    service_name: str = "brokkr"
    sampling_rate: float = attrs.field(default=0.1, validator=_non_negative)
    broker: TelemetryComponent = TelemetryComponent(service_name="brokkr-broker")
    agent: TelemetryComponent = TelemetryComponent(service_name="brokkr-agent")

    def for_component(self, component: typing.Literal["broker", "agent"]) -> Telemetry:
        """``telemetry.<component>.*`` wins where set; every other key inherits the top-level value."""
        own: TelemetryComponent = getattr(self, component)
        rate = self.sampling_rate if own.sampling_rate is None else own.sampling_rate
        if rate < 0:
            raise ConfigError(f"telemetry.{component}.sampling_rate: must not be negative, got {rate}")
        return Telemetry(
            enabled=self.enabled if own.enabled is None else own.enabled,
            otlp_endpoint=own.otlp_endpoint or self.otlp_endpoint,
            service_name=own.service_name or self.service_name,
            sampling_rate=rate,
        )


@attrs.frozen(kw_only=True)
class Settings:
    database: DatabaseSettings = DatabaseSettings()
    log: LogSettings = LogSettings()
    broker: BrokerSettings = BrokerSettings()
    pak: PakSection = PakSection()
    cors: CorsSettings = CorsSettings()
    agent: AgentSettings = AgentSettings()
    telemetry: TelemetrySettings = TelemetrySettings()


def load_settings(
    config_file: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build settings from defaults, then the TOML file (if any), then ``BROKKR__SECTION__KEY`` variables."""
    tree: dict[str, Any] = {}
    if config_file:
        path = Path(config_file)
        try:
            tree = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc}") from exc
    for name, raw in (environ or {}).items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not parts:
            continue
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{'.'.join(parts)}: {name} conflicts with a scalar value")
            node = child
        node[parts[-1]] = raw
    settings: Settings = _build(Settings, tree, "")
    return settings


def _build(cls: type[Any], data: Mapping[str, Any], prefix: str, base: Any = None) -> Any:
    """Build ``cls`` from ``data``; keys not given keep the values of ``base`` (a nested default) or defaults."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'settings'}: expected a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in attrs.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown setting")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        hint = hints[name]
        if attrs.has(hint):
            kwargs[name] = _build(hint, value, f"{key}.", fields[name].default)
        else:
            kwargs[name] = _coerce(key, hint, value)
    try:
        return attrs.evolve(base, **kwargs) if base is not None else cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{prefix}{exc.message}") from exc


def _coerce(key: str, hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.strip() == ""):
            return None
        return _coerce(key, args[0], value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {
            "true",
            "1",
            "yes",
            "on",
            "false",
            "0",
            "no",
            "off",
        }:
            return value.strip().lower() in {"true", "1", "yes", "on"}
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if origin is tuple:
        items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"{key}: expected a list of strings or a comma-separated string")
        return tuple(items)
    raise ConfigError(f"{key}: unsupported setting type {hint!r}")  # pragma: no cover - programming error


def flatten(settings: Any, prefix: str = "") -> dict[str, Any]:
    """``{"broker.port": 3000, ...}`` — used to report what a reload changed."""
    out: dict[str, Any] = {}
    for f in attrs.fields(type(settings)):
        value = getattr(settings, f.name)
        if attrs.has(type(value)):
            out.update(flatten(value, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = value
    return out


__all__ = [
    "AgentSettings",
    "BrokerSettings",
    "ConfigError",
    "CorsSettings",
    "DatabaseSettings",
    "LogSettings",
    "PakSection",
    "Settings",
    "TelemetryComponent",
    "TelemetrySettings",
    "flatten",
    "load_settings",
]
