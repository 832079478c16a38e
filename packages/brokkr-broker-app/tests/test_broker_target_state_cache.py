"""``TargetStateCache``: an answer is served only under the version it was stored with, byte-equal to a fresh one."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st
from starlette.responses import JSONResponse

from brokkr_broker_app.target_state_cache import TargetStateCache, Version
from brokkr_broker_app.wire import dump
from brokkr_domain.model import DeploymentObject
from brokkr_domain.testing import strategies as bs

AGENTS = [uuid.UUID(int=n) for n in range(1, 4)]


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
