"""Fixtures of the PostgreSQL adapter's tests: one embedded server per session, a clean database per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from brokkr_adapters_postgres import testing as pg_testing
from brokkr_adapters_postgres.engine import make_engine
from brokkr_adapters_postgres.testing import truncate_all
from brokkr_adapters_postgres.uow import SqlUnitOfWorkFactory
from brokkr_domain.testing.fakes import FakeClock

# The shared fixtures of brokkr_adapters_postgres.testing (one embedded server for the session).
postgres_server = pg_testing.postgres_server
postgres_url = pg_testing.postgres_url
fresh_database_url = pg_testing.fresh_database_url


class XorCipher:
    """A trivial reversible cipher (never use for real secrets): proves only ciphertext reaches the table."""

    KEY = 0x5A

    def encrypt(self, plaintext: str) -> bytes:
        return bytes(byte ^ self.KEY for byte in plaintext.encode("utf-8"))

    def decrypt(self, ciphertext: bytes) -> str:
        return bytes(byte ^ self.KEY for byte in ciphertext).decode("utf-8")


@pytest.fixture(scope="session")
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url, pool_size=5)
    yield engine
    engine.dispose()


@pytest.fixture
def uow_factory(engine: Engine) -> SqlUnitOfWorkFactory:
    """A unit-of-work factory over the session database, emptied before each test."""
    truncate_all(engine)
    return SqlUnitOfWorkFactory(engine, XorCipher())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
