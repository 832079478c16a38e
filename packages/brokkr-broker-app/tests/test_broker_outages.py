"""When things around the broker break: the database is unreachable, or the webhook key was lost.

An unreachable database makes ``/readyz`` and the API answer 503 with the JSON error body (the process stays
alive: ``/healthz`` is 200) and keeps audit entries for later. A key that cannot decrypt the stored webhook secrets (the
key file was lost and regenerated, the configured key changed) stops startup with a clear error instead of
failing every write that emits an event.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from brokerapp_support import Broker
from brokkr_adapters_postgres.database import Database
from brokkr_adapters_postgres.engine import make_engine
from brokkr_adapters_postgres.uow import SqlUnitOfWorkFactory
from brokkr_broker_app.bootstrap import open_database
from brokkr_broker_app.crypto import AesGcmCipher
from brokkr_domain.errors import BrokkrError
from brokkr_domain.model import Actor, Caller
from brokkr_domain.settings import Settings
from brokkr_domain.usecases import webhooks
from brokkr_domain.usecases.context import Services


def test_an_unreachable_database_is_503_not_500(
    broker: Broker, settings_for: Callable[..., Settings]
) -> None:
    engine = make_engine("postgresql+psycopg://brokkr:x@127.0.0.1:1/brokkr", pool_size=1)
    nowhere = Database(engine, SqlUnitOfWorkFactory(engine, AesGcmCipher(bytes(32))))
    cut_off = Broker(nowhere, settings_for(), admin=broker.admin)
    try:
        with cut_off.client:
            assert cut_off.request("GET", "/healthz").status_code == 200
            ready = cut_off.request("GET", "/readyz", allow_5xx=True)
            assert ready.status_code == 503 and ready.json()["code"] == "database_unavailable"
            api = cut_off.request("GET", "/agents", broker.admin, allow_5xx=True)
            assert api.status_code == 503 and api.json()["code"] == "database_unavailable", api.text
            assert "127.0.0.1" not in api.text and ":1" not in api.json()["message"], "no address in the body"
            assert cut_off.app.state.audit_writer.flush() == 0
    finally:
        engine.dispose()


def _settings(settings_for: Callable[..., Settings], url: str, key: str, data: Path) -> Settings:
    base = settings_for()
    return attrs.evolve(
        base,
        database=attrs.evolve(base.database, url=url, data_dir=str(data)),
        broker=attrs.evolve(base.broker, webhook_encryption_key=key),
    )


def test_a_key_that_cannot_read_the_stored_secrets_stops_startup_with_a_clear_error(
    fresh_database_url: str, settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    right, wrong = secrets.token_hex(32), secrets.token_hex(32)
    with open_database(
        _settings(settings_for, fresh_database_url, right, tmp_path), auto_migrate=False
    ) as db:
        admin = Caller(actor=Actor.admin())
        webhooks.create_webhook(
            Services(uow=db.uow), admin, name="h", url="https://hooks.example/x", event_types=["*"]
        )
    with pytest.raises(BrokkrError) as error:
        open_database(_settings(settings_for, fresh_database_url, wrong, tmp_path), auto_migrate=False)
    assert error.value.code == "webhook_key_mismatch"
    assert AesGcmCipher(bytes.fromhex(wrong)).fingerprint in error.value.message
    assert "restore the key" in error.value.message
    with open_database(_settings(settings_for, fresh_database_url, right, tmp_path), auto_migrate=False):
        pass  # the right key still works
