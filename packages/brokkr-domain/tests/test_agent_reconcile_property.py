"""Property: whatever sequence of target states the agent sees, the cluster ends up holding exactly the objects of
the latest object of every stack, and nothing the agent does not own is touched."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from brokkr_domain.agent.reconcile import Reconciler
from brokkr_domain.manifests import ObjectRef
from brokkr_domain.model import DeploymentObject
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.fake_broker import FakeBrokerGateway
from brokkr_domain.testing.fake_cluster import FakeCluster
from brokkr_domain.testing.fakes import FakeClock

STACKS = [UUID(int=i + 1) for i in range(3)]
FOREIGN: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "pre"}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "user-pre", "namespace": "pre"}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "user", "labels": {"team": "x"}}},
]

# A version of a stack: a deletion marker (None), or which of its config maps exist and where they live:
# in "default", in its own namespace (which it declares), or in the pre-existing namespace "pre".
Version = tuple[frozenset[str], str] | None
versions: st.SearchStrategy[Version] = st.one_of(
    st.none(),
    st.tuples(
        st.frozensets(st.sampled_from(["a", "b", "c"]), max_size=3),
        st.sampled_from(["default", "own", "pre"]),
    ),
)
steps = st.lists(st.tuples(st.integers(0, len(STACKS) - 1), versions, st.booleans()), min_size=1, max_size=12)


def render(index: int, version: Version) -> tuple[str, set[ObjectRef]]:
    """YAML of a version and the refs it should leave in the cluster."""
    if version is None:
        return "", set()
    names, where = version
    namespace = f"ns-{index}" if where == "own" else where
    docs = [f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}"] if where != "default" else []
    refs = {ObjectRef("v1", "Namespace", None, namespace)} if where != "default" else set()
    for name in sorted(names):
        docs.append(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: s{index}-{name}, namespace: {namespace}}}"
        )
        refs.add(ObjectRef("v1", "ConfigMap", namespace, f"s{index}-{name}"))
    return "\n---\n".join(docs), refs


def identity(ref: ObjectRef) -> tuple[str, str | None, str]:
    return (ref.kind, ref.namespace, ref.name)


@settings(max_examples=150, deadline=None)
@given(steps=steps)
def test_cluster_converges_to_the_latest_object_per_stack(steps: list[tuple[int, Version, bool]]) -> None:
    clock = FakeClock()
    cluster = FakeCluster()
    for manifest in FOREIGN:
        cluster.put(manifest)
    foreign = {identity(ref) for ref in cluster.refs()}
    broker = FakeBrokerGateway(clock)
    agent = broker.add_agent()
    reconciler = Reconciler(cluster, broker, clock=clock)
    latest: dict[UUID, DeploymentObject] = {}
    wanted: dict[int, set[ObjectRef]] = {}
    for sequence, (index, version, tick_now) in enumerate(steps, start=1):
        yaml_content, refs = render(index, version)
        latest[STACKS[index]] = b.deployment_object(
            clock.now(),
            STACKS[index],
            id=uuid.uuid4(),
            yaml_content=yaml_content,
            sequence_id=sequence,
            is_deletion_marker=version is None,
        )
        wanted[index] = refs
        if tick_now:  # some versions are superseded before the agent ever sees them
            report = reconciler.reconcile(list(latest.values()), agent.id)
            assert not report.failed, report.failed
        clock.advance(1)
    report = reconciler.reconcile(list(latest.values()), agent.id)
    assert not report.failed, report.failed

    expected = set(foreign)
    for refs in wanted.values():
        expected |= {identity(ref) for ref in refs}
    assert {identity(ref) for ref in cluster.refs()} == expected
    for manifest in FOREIGN:  # untouched: not even marked
        ref = ObjectRef(
            manifest["apiVersion"],
            manifest["kind"],
            manifest["metadata"].get("namespace"),
            manifest["metadata"]["name"],
        )
        live = cluster.get(ref)
        assert live is not None
        if ref.kind != "Namespace":  # "pre" is declared by some versions, so it may carry our marks
            assert live["metadata"].get("labels") == manifest["metadata"].get("labels")
