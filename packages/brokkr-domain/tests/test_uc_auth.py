"""Authentication: header forms, lookup order, revocation, and ``whoami``."""

from __future__ import annotations

import pytest

from brokkr_domain.errors import UnauthorizedError
from brokkr_domain.model import Actor, ActorKind, Caller
from brokkr_domain.pak import generate_pak
from brokkr_domain.testing import FakeClock, InMemoryUnitOfWorkFactory, RecordingAuditSink, SequentialIds
from brokkr_domain.usecases import agents, generators
from brokkr_domain.usecases.auth import AuthInfo, authenticate, whoami
from brokkr_domain.usecases.bootstrap import ensure_initialized, rotate_admin
from brokkr_domain.usecases.context import Services

ADMIN = Caller(actor=Actor.admin())


@pytest.fixture
def s() -> Services:
    return Services(
        uow=InMemoryUnitOfWorkFactory(), clock=FakeClock(), ids=SequentialIds(), audit=RecordingAuditSink()
    )


@pytest.fixture
def admin_key(s: Services) -> str:
    key = ensure_initialized(s, preset_admin_hash=None)
    assert key is not None
    return key


@pytest.mark.parametrize("template", ["Bearer {}", "{}", "bearer {}", "BEARER   {}", "  Bearer {}  "])
def test_admin_key_is_accepted_with_or_without_the_bearer_scheme(
    s: Services, admin_key: str, template: str
) -> None:
    assert authenticate(s, template.format(admin_key)) == Actor.admin()


def test_admin_wins_over_the_admin_generator_that_shares_its_hash(s: Services, admin_key: str) -> None:
    actor = authenticate(s, admin_key)
    assert actor.is_admin
    assert actor.kind is ActorKind.ADMIN


def test_agent_and_generator_keys_resolve_to_their_identity(s: Services, admin_key: str) -> None:
    agent, agent_key = agents.create_agent(s, ADMIN, name="a", cluster_name="c")
    generator, generator_key = generators.create_generator(s, ADMIN, name="ci")
    assert authenticate(s, f"Bearer {agent_key}") == Actor.agent(agent.id)
    assert authenticate(s, generator_key) == Actor.generator(generator.id)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "Bearer",
        "Bearer ",
        "Basic abc",
        "brokkr_only-two",
        "a_b_c_d",
        "Bearer x y",
        "brokkr_BR_0OIl",
    ],
)
def test_missing_or_malformed_headers_are_unauthorized(
    s: Services, admin_key: str, header: str | None
) -> None:
    with pytest.raises(UnauthorizedError) as caught:
        authenticate(s, header)
    assert caught.value.code == "unauthorized"


def test_a_well_formed_but_unknown_key_is_unauthorized(s: Services, admin_key: str) -> None:
    with pytest.raises(UnauthorizedError):
        authenticate(s, f"Bearer {generate_pak().key}")


def test_an_uninitialised_broker_knows_no_admin(s: Services) -> None:
    with pytest.raises(UnauthorizedError):
        authenticate(s, generate_pak().key)


def test_rotation_and_deletion_revoke_keys(s: Services, admin_key: str) -> None:
    agent, old_agent_key = agents.create_agent(s, ADMIN, name="a", cluster_name="c")
    _, new_agent_key = agents.rotate_agent_pak(s, ADMIN, agent.id)
    with pytest.raises(UnauthorizedError):
        authenticate(s, old_agent_key)
    assert authenticate(s, new_agent_key) == Actor.agent(agent.id)

    agents.delete_agent(s, ADMIN, agent.id)
    with pytest.raises(UnauthorizedError):
        authenticate(s, new_agent_key)

    generator, generator_key = generators.create_generator(s, ADMIN, name="ci")
    generators.delete_generator(s, ADMIN, generator.id)
    with pytest.raises(UnauthorizedError):
        authenticate(s, generator_key)

    new_admin_key = rotate_admin(s)
    with pytest.raises(UnauthorizedError):
        authenticate(s, admin_key)
    assert authenticate(s, new_admin_key).is_admin


def test_an_inactive_generator_still_authenticates(s: Services, admin_key: str) -> None:
    generator, key = generators.create_generator(s, ADMIN, name="ci")
    generators.update_generator(s, ADMIN, generator.id, is_active=False)
    assert authenticate(s, key) == Actor.generator(generator.id)


def test_whoami_sets_exactly_one_identity() -> None:
    agent_id = SequentialIds(seed=7).new_id()
    assert whoami(ADMIN) == AuthInfo(admin=True)
    assert whoami(Caller(actor=Actor.agent(agent_id))) == AuthInfo(admin=False, agent=agent_id)
    assert whoami(Caller(actor=Actor.generator(agent_id))) == AuthInfo(admin=False, generator=agent_id)
