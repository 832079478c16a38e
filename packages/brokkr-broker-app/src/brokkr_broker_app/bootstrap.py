"""Process bootstrap shared by every CLI command: settings, data directory, cipher, database, services."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import platformdirs

from brokkr_adapters_postgres.database import Database
from brokkr_broker_app.crypto import AesGcmCipher, load_or_create_key
from brokkr_broker_app.container import BrokerContainer
from brokkr_domain.settings import Settings, load_settings

CONFIG_ENV = "BROKKR_CONFIG_FILE"
ADMIN_PAK_FILE = "admin.pak"


def config_loader(
    config_file: str | None, environ: Mapping[str, str] | None = None
) -> Callable[[], Settings]:
    """A function that re-reads defaults < file < environment (used at start and on every reload)."""
    env = os.environ if environ is None else environ
    path = config_file or env.get(CONFIG_ENV) or None

    def load() -> Settings:
        return load_settings(path, dict(env))

    return load


def config_path(config_file: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    return config_file or env.get(CONFIG_ENV) or None


def data_dir(settings: Settings) -> Path:
    configured = settings.database.data_dir
    path = Path(configured).expanduser() if configured else Path(platformdirs.user_data_dir("brokkr"))
    path.mkdir(parents=True, exist_ok=True)
    return path.absolute()


def open_database(settings: Settings, *, auto_migrate: bool) -> Database:
    directory = data_dir(settings)
    cipher = AesGcmCipher(load_or_create_key(settings.broker.webhook_encryption_key, directory))
    return Database.open(
        settings.database.url,
        cipher=cipher,
        data_dir=directory,
        schema=settings.database.schema,
        pool_size=settings.database.pool_size,
        auto_migrate=auto_migrate,
    )


def build_container(
    settings: Settings, database: Database, loader: Callable[[], Settings]
) -> BrokerContainer:
    container = BrokerContainer()
    container.settings.override(settings)
    container.uow_factory.override(database.uow)
    container.ping.override(database.check_reachable)
    container.config_loader.override(loader)
    return container


def write_admin_pak(directory: Path, pak: str) -> Path:
    """Keep the first admin key where only its owner can read it (contract decision 2)."""
    path = directory / ADMIN_PAK_FILE
    if path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(pak + "\n")
    return path
