"""``brokkr-broker`` commands against a real database: migrate, create identities, rotate keys (all printed).

The CLI reads its settings from the environment like in production (``BROKKR__DATABASE__URL`` and a data
directory for the encryption key); each test gets a database of its own. The keys it prints are checked by
authenticating them against the same database.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy.engine import make_url

from brokkr_adapters_postgres.database import Database
from brokkr_adapters_postgres.testing import PostgresTestServer
from brokkr_broker_app.cli import main
from brokkr_broker_app.crypto import AesGcmCipher
from brokkr_domain.errors import UnauthorizedError
from brokkr_domain.model import Actor, Caller
from brokkr_domain.usecases import auth, webhooks
from brokkr_domain.usecases.context import Services

PAK = re.compile(r"brokkr_BR\w{6}_\w+")


@pytest.fixture
def empty_database(
    postgres_server: PostgresTestServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[str]:
    """A database with no schema at all, and the environment pointing the CLI at it."""
    url = postgres_server.create_database(migrated=False)
    monkeypatch.setenv("BROKKR__DATABASE__URL", url)
    monkeypatch.setenv("BROKKR__DATABASE__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY", secrets.token_hex(32))
    monkeypatch.delenv("BROKKR_CONFIG_FILE", raising=False)
    yield url
    name = make_url(url).database
    assert name is not None
    postgres_server.drop_database(name)


def whoami(url: str, pak: str) -> Actor:
    with Database.open(url, cipher=AesGcmCipher(bytes(32)), pool_size=1) as db:
        return auth.authenticate(Services(uow=db.uow), f"Bearer {pak}")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_migrate_then_create_and_rotate(empty_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "migrate")
    assert code == 0 and "up to date" in out

    code, out, _ = run(capsys, "create", "agent", "--name", "edge", "--cluster-name", "prod")
    assert code == 0 and "Name: edge" in out and "Cluster: prod" in out
    agent_id = re.search(r"ID: (\S+)", out).group(1)  # type: ignore[union-attr]
    agent_pak = PAK.search(out).group(0)  # type: ignore[union-attr]
    assert whoami(empty_database, agent_pak) == Actor.agent(UUID(agent_id))

    code, out, _ = run(capsys, "create", "generator", "--name", "ci", "--description", "pipelines")
    assert code == 0 and "Name: ci" in out
    generator_pak = PAK.search(out).group(0)  # type: ignore[union-attr]
    generator_id = re.search(r"ID: (\S+)", out).group(1)  # type: ignore[union-attr]
    assert whoami(empty_database, generator_pak).is_generator()

    code, out, _ = run(capsys, "rotate", "agent", agent_id)
    new_agent_pak = PAK.search(out).group(0)  # type: ignore[union-attr]
    assert code == 0 and new_agent_pak != agent_pak
    assert whoami(empty_database, new_agent_pak).is_agent()
    with pytest.raises(UnauthorizedError):
        whoami(empty_database, agent_pak)

    code, out, _ = run(capsys, "rotate", "generator", generator_id)
    new_generator_pak = PAK.search(out).group(0)  # type: ignore[union-attr]
    assert code == 0 and whoami(empty_database, new_generator_pak).is_generator()
    with pytest.raises(UnauthorizedError):
        whoami(empty_database, generator_pak)

    code, out, _ = run(capsys, "rotate", "admin")
    first_admin = PAK.search(out).group(0)  # type: ignore[union-attr]
    assert code == 0 and whoami(empty_database, first_admin).is_admin
    code, out, _ = run(capsys, "rotate", "admin")
    second_admin = PAK.search(out).group(0)  # type: ignore[union-attr]
    assert whoami(empty_database, second_admin).is_admin
    with pytest.raises(UnauthorizedError):
        whoami(empty_database, first_admin)


def test_errors_are_one_line_and_exit_1(empty_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "rotate", "agent", "not-a-uuid")
    assert (
        code == 1
        and out == ""
        and err == "brokkr-broker: error: 'not-a-uuid' is not a valid id (expected a UUID)\n"
    )
    code, _, err = run(capsys, "rotate", "agent", "00000000-0000-4000-8000-000000000001")
    assert code == 1 and err.splitlines()[-1].startswith("brokkr-broker: error: agent") and "not found" in err
    run(capsys, "create", "agent", "--name", "twin", "--cluster-name", "c")
    code, _, err = run(capsys, "create", "agent", "--name", "twin", "--cluster-name", "c")
    assert code == 1 and err.splitlines()[-1].startswith("brokkr-broker: error:")


def test_an_invalid_setting_names_its_key(
    empty_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BROKKR__BROKER__AUTH_CACHE_TTL_SECONDS", "soon")
    code, _, err = run(capsys, "migrate")
    assert code == 1 and "broker.auth_cache_ttl_seconds" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["create", "agent", "--name", "x"])
    assert exited.value.code == 2
    assert "--cluster-name" in capsys.readouterr().err


def test_the_wrong_webhook_key_is_a_clear_error(
    empty_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "migrate")[0] == 0
    key = bytes.fromhex(os.environ["BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY"])
    with Database.open(empty_database, cipher=AesGcmCipher(key), pool_size=1) as db:
        admin = Caller(actor=Actor.admin())
        webhooks.create_webhook(
            Services(uow=db.uow), admin, name="h", url="https://hooks.example/x", event_types=["*"]
        )
    monkeypatch.setenv("BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY", secrets.token_hex(32))
    code, out, err = run(capsys, "create", "agent", "--name", "a", "--cluster-name", "c")
    assert code == 1 and out == "" and "cannot be decrypted with the configured key" in err.splitlines()[-1]
