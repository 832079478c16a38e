"""Fixtures of the broker app's tests: one embedded PostgreSQL per session, an emptied database per test.

The migrated session database (``brokkr_adapters_postgres.testing.postgres_url``) is opened once; each test
empties it (``truncate_all``, a few milliseconds), initialises the admin afresh and gets a new app with its own
container, auth cache, metrics registry and audit writer, served in-process with its lifespan running.
``brokerapp_support`` (beside this file) holds the helpers; the test directory is put on ``sys.path`` so test
modules can import it (``--import-mode=importlib`` does not).
"""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import attrs
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from brokerapp_support import Broker, serving
from brokkr_adapters_postgres import testing as pg_testing
from brokkr_adapters_postgres.database import Database
from brokkr_broker_app.crypto import AesGcmCipher
from brokkr_broker_app.webhook_sender import HttpxWebhookSender
from brokkr_domain.settings import DatabaseSettings, Settings

postgres_server = pg_testing.postgres_server
postgres_url = pg_testing.postgres_url
fresh_database_url = pg_testing.fresh_database_url


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI configures the root logger and a reload changes log levels; give every test a clean slate."""
    root, brokkr = logging.getLogger(), logging.getLogger("brokkr")
    handlers, levels = list(root.handlers), (root.level, brokkr.level)
    yield
    root.handlers[:] = handlers
    root.setLevel(levels[0])
    brokkr.setLevel(levels[1])


@pytest.fixture(scope="session")
def database(postgres_url: str) -> Iterator[Database]:
    db = Database.open(postgres_url, cipher=AesGcmCipher(secrets.token_bytes(32)), pool_size=8)
    yield db
    db.close()


@pytest.fixture(scope="session")
def webhook_sender() -> Iterator[HttpxWebhookSender]:
    """One HTTP client for every app of the session (building its TLS context costs ~20 ms)."""
    sender = HttpxWebhookSender()
    yield sender
    sender.close()


@pytest.fixture(scope="session")
def settings_for(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Settings]:
    """Settings of a test broker; keyword arguments replace whole sections (``cors=CorsSettings(...)``)."""
    data = tmp_path_factory.mktemp("broker-data")

    def make(**sections: Any) -> Settings:
        base = Settings(database=DatabaseSettings(url=postgres_url, data_dir=str(data)))
        return attrs.evolve(base, **sections)

    return make


MakeBroker = Callable[..., Broker]


@pytest.fixture
def make_broker(
    database: Database, settings_for: Callable[..., Settings], webhook_sender: HttpxWebhookSender
) -> Iterator[MakeBroker]:
    """``make_broker(settings=..., clock=..., ping=...)``: an emptied database and a running app on it."""
    with ExitStack() as stack:

        def make(settings: Settings | None = None, **options: Any) -> Broker:
            return stack.enter_context(
                serving(database, settings or settings_for(), webhook_sender, **options)
            )

        yield make


@pytest.fixture
def broker(make_broker: MakeBroker) -> Broker:
    return make_broker()
