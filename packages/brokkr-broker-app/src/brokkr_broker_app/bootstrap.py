"""Process bootstrap shared by every CLI command: settings, data directory, cipher, database, services."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import platformdirs
from dependency_injector import providers

from brokkr_adapters_postgres.database import Database
from brokkr_broker_app.container import BrokerContainer
from brokkr_broker_app.crypto import KEY_FILE_NAME, AesGcmCipher, DecryptionError, load_or_create_key
from brokkr_domain.errors import BrokkrError
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
    database = Database.open(
        settings.database.url,
        cipher=cipher,
        data_dir=directory,
        schema=settings.database.schema,
        pool_size=settings.database.pool_size,
        auto_migrate=auto_migrate,
    )
    try:
        check_webhook_key(database, cipher, directory)
    except BaseException:
        database.close()
        raise
    return database


def check_webhook_key(database: Database, cipher: AesGcmCipher, directory: Path) -> None:
    """Refuse to start with a key that cannot read the stored webhook secrets (contract decision 12).

    Every event emission reads the subscriptions, so a broker running with the wrong key (a key file lost and
    regenerated, a changed ``BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY``) would fail most writes; one clear error
    at startup says what to restore instead.
    """
    try:
        with database.uow() as uow:
            uow.webhooks.list()
    except DecryptionError as exc:
        raise BrokkrError(
            f"the webhook secrets in the database cannot be decrypted with the configured key (fingerprint "
            f"{cipher.fingerprint}): restore the key they were encrypted with, in "
            f"broker.webhook_encryption_key or {directory / KEY_FILE_NAME}",
            code="webhook_key_mismatch",
        ) from exc


def build_container(
    settings: Settings, database: Database, loader: Callable[[], Settings]
) -> BrokerContainer:
    container = BrokerContainer()
    container.settings.override(settings)
    container.uow_factory.override(database.uow)
    container.engine.override(database.engine)
    container.ping.override(database.check_reachable)
    container.autocommit_factory.override(providers.Object(database.uow.autocommit))
    container.notifications.override(providers.Object(database.notifications()))
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
