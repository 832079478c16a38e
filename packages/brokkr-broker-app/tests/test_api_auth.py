"""Authentication: key formats, ``POST /auth/pak``, and the auth cache (contract decision 1).

The cache holds successful lookups for ``auth_cache_ttl_seconds``. Rotation and deletion through the API must
retire the old key in this replica at once, however long the TTL; a rotation this replica did not see (another
replica, the CLI) is honoured within the TTL — immediately when the cache is off.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import attrs
import pytest

from brokerapp_support import Broker
from brokkr_broker_app.auth import AuthCache
from brokkr_domain.model import Actor, Caller
from brokkr_domain.settings import Settings
from brokkr_domain.usecases import agents


@pytest.fixture
def long_ttl(make_broker: Callable[..., Broker], settings_for: Callable[..., Settings]) -> Broker:
    base = settings_for()
    return make_broker(attrs.evolve(base, broker=attrs.evolve(base.broker, auth_cache_ttl_seconds=3600)))


def test_the_identity_of_each_kind_of_key(broker: Broker) -> None:
    agent, agent_pak = broker.create_agent()
    generator, gen_pak = broker.create_generator()
    assert broker.ok("POST", "/auth/pak") == {"admin": True, "agent": None, "generator": None}
    assert broker.ok("POST", "/auth/pak", agent_pak) == {
        "admin": False,
        "agent": agent["id"],
        "generator": None,
    }
    assert broker.ok("POST", "/auth/pak", gen_pak) == {
        "admin": False,
        "agent": None,
        "generator": generator["id"],
    }


def test_header_forms(broker: Broker) -> None:
    for header in (f"Bearer {broker.admin}", broker.admin, f"Bearer  {broker.admin} "):
        response = broker.request("POST", "/auth/pak", headers={"Authorization": header})
        assert response.status_code == 200, header
    for header in ("Bearer", "Basic dXNlcjpwdw==", broker.admin[:-1] + "_x", "brokkr__", "Bearer brokkr_BR_"):
        response = broker.request("POST", "/auth/pak", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["code"] == "unauthorized"


@pytest.mark.parametrize("how", ["rotate agent", "delete agent", "rotate generator", "delete generator"])
def test_api_rotation_and_deletion_retire_a_cached_key_at_once(long_ttl: Broker, how: str) -> None:
    broker = long_ttl
    kind, noun = how.split()[1], how.split(maxsplit=1)[0]
    if kind == "agent":
        entity, key = broker.create_agent()
        path = f"/agents/{entity['id']}"
    else:
        entity, key = broker.create_generator()
        path = f"/generators/{entity['id']}"
    assert broker.request("GET", path, key).status_code == 200  # cached from now on
    if noun == "rotate":
        assert broker.request("POST", f"{path}/rotate-pak", broker.admin).status_code == 200
    else:
        assert broker.request("DELETE", path, broker.admin).status_code == 204
    response = broker.request("GET", path, key)
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"


def _rotate_elsewhere(broker: Broker, agent_id: str) -> str:
    """Rotate as another replica or the CLI would: in the database, without this app's cache knowing."""
    _, pak = agents.rotate_agent_pak(broker.services, Caller(actor=Actor.admin()), UUID(agent_id))
    return pak


def test_a_rotation_elsewhere_is_honoured_within_the_ttl(long_ttl: Broker) -> None:
    agent, old = long_ttl.create_agent()
    assert long_ttl.request("POST", "/auth/pak", old).status_code == 200
    new = _rotate_elsewhere(long_ttl, agent["id"])
    assert long_ttl.request("POST", "/auth/pak", new).status_code == 200
    assert (
        long_ttl.request("POST", "/auth/pak", old).status_code == 200
    )  # cached: valid until the TTL runs out
    long_ttl.app.state.auth_cache.clear()  # what the TTL's expiry does
    assert long_ttl.request("POST", "/auth/pak", old).status_code == 401


def test_without_a_cache_a_rotation_elsewhere_is_honoured_at_once(
    make_broker: Callable[..., Broker], settings_for: Callable[..., Settings]
) -> None:
    base = settings_for()
    broker = make_broker(attrs.evolve(base, broker=attrs.evolve(base.broker, auth_cache_ttl_seconds=0)))
    agent, old = broker.create_agent()
    assert broker.request("POST", "/auth/pak", old).status_code == 200
    _rotate_elsewhere(broker, agent["id"])
    assert broker.request("POST", "/auth/pak", old).status_code == 401


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_entries_expire_and_stay_bounded() -> None:
    time = FakeTime()
    cache = AuthCache(ttl_seconds=10, max_entries=2, now=time)
    admin, agent = Actor.admin(), Actor.agent(UUID(int=1))
    cache.put("h1", admin)
    cache.put("h2", agent)
    assert cache.get("h1") == admin
    time.now += 11
    assert cache.get("h1") is None
    cache.put("h1", admin)
    cache.put("h2", agent)
    cache.put("h3", agent)  # over the bound: the oldest entry goes
    assert cache.get("h1") is None and cache.get("h3") == agent
    cache.invalidate_actor(UUID(int=1))
    assert cache.get("h2") is None and cache.get("h3") is None
    disabled = AuthCache(ttl_seconds=0, now=time)
    disabled.put("h", admin)
    assert disabled.get("h") is None
