"""``TargetStateCache``: an answer is served only under the version it was stored with, byte-equal to a fresh one."""

from __future__ import annotations

import time
import uuid
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st
from starlette.responses import JSONResponse

from brokerapp_support import Broker
from brokkr_broker_app.target_state_cache import TargetStateCache, Version
from brokkr_broker_app.wire import dump
from brokkr_domain.model import Actor, Caller, DeploymentObject
from brokkr_domain.testing import strategies as bs
from brokkr_domain.usecases import stacks

AGENTS = [uuid.UUID(int=n) for n in range(1, 4)]
THIRD = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: three\n"


class Notified:
    def __init__(self) -> None:
        self.value: int | None = 0

    def __call__(self) -> int | None:
        return self.value


def fresh(objects: list[DeploymentObject]) -> bytes:
    return bytes(JSONResponse(dump(objects)).body)


@given(st.lists(bs.deployment_objects(), max_size=4), st.sampled_from(AGENTS), st.booleans())
def test_a_cached_answer_is_byte_equal_to_the_fresh_one(
    objects: list[DeploymentObject], agent: uuid.UUID, full: bool
) -> None:
    cache = TargetStateCache(Notified())
    version = cache.version()
    assert cache.render(agent, full, version, objects) == fresh(objects)
    assert cache.lookup(agent, full, version) == fresh(objects)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["store", "lookup", "bump", "disconnect", "write"]),
            st.sampled_from(AGENTS),
            st.booleans(),
            st.lists(bs.deployment_objects(), max_size=3),
        ),
        max_size=25,
    )
)
def test_answers_are_served_only_under_the_version_they_were_stored_with(
    steps: list[tuple[str, uuid.UUID, bool, list[DeploymentObject]]],
) -> None:
    notified = Notified()
    cache = TargetStateCache(notified, max_answers=2, max_objects=5)
    model: dict[tuple[uuid.UUID, bool], tuple[Version, list[DeploymentObject]]] = {}
    counter = 0
    for action, agent, full, objects in steps:
        if action == "bump":  # a notification, or a reconnect after "disconnect"
            counter += 1
            notified.value = counter
        elif action == "write":
            cache.invalidate()
        elif action == "disconnect":
            notified.value = None
        elif action == "store":
            current = cache.version()
            cache.render(agent, full, current, objects)
            if current is not None:
                model[(agent, full)] = (current, objects)
        else:
            current = cache.version()
            served = cache.lookup(agent, full, current)
            expected = model.get((agent, full))
            if served is not None:  # never a stale or foreign answer (evictions may cause misses)
                assert current is not None and expected is not None and expected[0] == current
                assert served == fresh(expected[1])
            if current is None:
                assert served is None, "nothing is served while the version is unknown"


def test_bounded_and_counted() -> None:
    cache = TargetStateCache(Notified(), max_answers=2)
    version = cache.version()
    for agent in AGENTS:
        cache.render(agent, True, version, [])
    assert cache.lookup(AGENTS[0], True, version) is None, "the least recently used answer was evicted"
    assert cache.lookup(AGENTS[2], True, version) == b"[]"
    assert (cache.hits, cache.misses) == (1, 1)
    cache.invalidate()
    assert cache.lookup(AGENTS[2], True, cache.version()) is None, "a write of this process drops answers"


def _cached_answers(broker: Broker) -> float:
    value = broker.app.state.metrics.registry.get_sample_value(
        "brokkr_target_state_answers_total", {"source": "cache"}
    )
    return float(value or 0.0)


def test_polls_are_answered_from_the_cache_until_something_changes(broker: Broker) -> None:
    agent, pak = broker.create_agent()
    stack = broker.create_stack(broker.admin_generator_id())
    broker.ok(
        "POST", f"/agents/{agent['id']}/targets", json={"agent_id": agent["id"], "stack_id": stack["id"]}
    )
    first = broker.create_object(stack["id"], name="one")
    path = f"/agents/{agent['id']}/target-state?mode=full"
    assert [o["id"] for o in broker.ok("GET", path, pak)] == [first["id"]]
    before = _cached_answers(broker)
    again = broker.request("GET", path, pak)
    assert [o["id"] for o in again.json()] == [first["id"]]
    assert _cached_answers(broker) == before + 1, "an unchanged answer comes from memory"

    second = broker.create_object(stack["id"], name="two")  # a write through this broker: seen at once
    assert [o["id"] for o in broker.ok("GET", path, pak)] == [second["id"]]

    # A write this process did not see (another replica, a CLI): the database's notification invalidates.
    other = Caller(actor=Actor.admin())
    stacks.create_deployment_object(broker.services, other, UUID(stack["id"]), yaml_content=THIRD)
    deadline = time.monotonic() + 10
    while (ids := [o["id"] for o in broker.ok("GET", path, pak)]) == [second["id"]]:
        assert time.monotonic() < deadline, "the notification never reached the broker"
        time.sleep(0.01)
    assert len(ids) == 1 and ids[0] != second["id"]

    outsider, outsider_pak = broker.create_agent()
    denied = broker.request("GET", path, outsider_pak)
    assert denied.status_code == 403, "a cached answer is never served to another agent"
    assert outsider["id"] != agent["id"]
