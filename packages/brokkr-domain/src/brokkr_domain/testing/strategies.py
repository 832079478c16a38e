"""Hypothesis strategies for Brokkr's values and entities.

Small pools (``LABEL_POOL`` ...) are the default for labels and annotations on purpose: random strings almost
never collide, and targeting properties are only interesting when agents and stacks share some of them.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import yaml
from hypothesis import strategies as st

from brokkr_domain.model import Agent, AgentEvent, DeploymentObject, Generator, Stack, WorkOrderTargeting
from brokkr_domain.ports import AgentTargetingFacts
from brokkr_domain.testing import builders as b

LABEL_POOL: tuple[str, ...] = ("prod", "staging", "eu", "us", "gpu", "env=prod", "tier:web")
ANNOTATION_KEYS: tuple[str, ...] = ("tier", "zone", "team")
ANNOTATION_VALUES: tuple[str, ...] = ("gold", "silver", "a", "b")

_LABEL_CHARS = string.ascii_letters + string.digits + "-_.=:/"
_DNS_CHARS = string.ascii_lowercase + string.digits

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def free_labels() -> st.SearchStrategy[str]:
    """Any valid label: 1-64 characters, no whitespace."""
    return st.text(alphabet=_LABEL_CHARS, min_size=1, max_size=64)


def labels(pool: Sequence[str] = LABEL_POOL) -> st.SearchStrategy[str]:
    return st.sampled_from(tuple(pool))


def label_sets(pool: Sequence[str] = LABEL_POOL, max_size: int = 4) -> st.SearchStrategy[frozenset[str]]:
    return st.frozensets(labels(pool), max_size=max_size)


def annotation_pairs(
    keys: Sequence[str] = ANNOTATION_KEYS, values: Sequence[str] = ANNOTATION_VALUES
) -> st.SearchStrategy[tuple[str, str]]:
    return st.tuples(st.sampled_from(tuple(keys)), st.sampled_from(tuple(values)))


def annotation_maps(
    keys: Sequence[str] = ANNOTATION_KEYS, values: Sequence[str] = ANNOTATION_VALUES
) -> st.SearchStrategy[dict[str, str]]:
    """Annotations as stored on agents and stacks: one value per key."""
    return st.dictionaries(st.sampled_from(tuple(keys)), st.sampled_from(tuple(values)), max_size=len(keys))


def annotation_sets(
    keys: Sequence[str] = ANNOTATION_KEYS, values: Sequence[str] = ANNOTATION_VALUES, max_size: int = 4
) -> st.SearchStrategy[frozenset[tuple[str, str]]]:
    """Annotation pairs as used by templates and work orders (several values per key allowed)."""
    return st.frozensets(annotation_pairs(keys, values), max_size=max_size)


def names(max_size: int = 40) -> st.SearchStrategy[str]:
    """DNS-label-like names (valid as agent, stack or Kubernetes object names)."""
    return st.text(alphabet=_DNS_CHARS, min_size=1, max_size=max_size).filter(lambda s: s[0].isalpha())


def timestamps(start: datetime = EPOCH, days: int = 365) -> st.SearchStrategy[datetime]:
    """Timezone-aware UTC instants with whole-microsecond precision (what PostgreSQL keeps)."""
    return st.integers(min_value=0, max_value=days * 86_400 * 1_000_000).map(
        lambda micros: start + timedelta(microseconds=micros)
    )


def agents() -> st.SearchStrategy[Agent]:
    return st.builds(
        lambda at, name, cluster, status: b.agent(at, name=name, cluster_name=cluster, status=status),
        timestamps(),
        names(),
        names(),
        st.sampled_from(("ACTIVE", "INACTIVE")),
    )


def generators() -> st.SearchStrategy[Generator]:
    return st.builds(lambda at, name: b.generator(at, name=name), timestamps(), names())


def stacks(generator_id: UUID | None = None) -> st.SearchStrategy[Stack]:
    owner = st.just(generator_id) if generator_id is not None else st.uuids()
    return st.builds(lambda at, gen, name: b.stack(at, gen, name=name), timestamps(), owner, names())


def k8s_objects() -> st.SearchStrategy[dict[str, Any]]:
    """Small Kubernetes-like manifests (ConfigMaps and Namespaces) as plain dicts."""
    config_map = st.builds(
        lambda name, ns, data: {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, **({"namespace": ns} if ns else {})},
            "data": data,
        },
        names(20),
        st.none() | names(12),
        st.dictionaries(names(10), st.text(max_size=20), max_size=3),
    )
    namespace = st.builds(
        lambda name: {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}, names(20)
    )
    return st.one_of(config_map, namespace)


def yaml_documents(min_docs: int = 1, max_docs: int = 4) -> st.SearchStrategy[str]:
    """A multi-document YAML stream of :func:`k8s_objects`."""
    return st.lists(k8s_objects(), min_size=min_docs, max_size=max_docs).map(
        lambda docs: yaml.safe_dump_all(docs, sort_keys=False)
    )


def deployment_objects(stack_id: UUID | None = None) -> st.SearchStrategy[DeploymentObject]:
    owner = st.just(stack_id) if stack_id is not None else st.uuids()
    return st.builds(
        lambda at, sid, content: b.deployment_object(at, sid, yaml_content=content),
        timestamps(),
        owner,
        yaml_documents(),
    )


def agent_events(agent_id: UUID, object_id: UUID) -> st.SearchStrategy[AgentEvent]:
    return st.builds(
        lambda at, status: b.agent_event(at, agent_id, object_id, status),
        timestamps(),
        st.sampled_from(("SUCCESS", "FAILURE")),
    )


def work_order_targetings(agent_ids: Sequence[UUID] = ()) -> st.SearchStrategy[WorkOrderTargeting]:
    ids = (
        st.frozensets(st.sampled_from(tuple(agent_ids)), max_size=2)
        if agent_ids
        else st.just(frozenset[UUID]())
    )
    return st.builds(
        lambda a, lab, ann: WorkOrderTargeting(agent_ids=a, labels=lab, annotations=ann),
        ids,
        label_sets(),
        annotation_sets(),
    )


def agent_targeting_facts(agent_ids: Sequence[UUID] = ()) -> st.SearchStrategy[AgentTargetingFacts]:
    ident = st.sampled_from(tuple(agent_ids)) if agent_ids else st.uuids()
    return st.builds(
        lambda i, lab, ann: AgentTargetingFacts(agent_id=i, labels=lab, annotations=frozenset(ann.items())),
        ident,
        label_sets(),
        annotation_maps(),
    )


__all__ = [
    "ANNOTATION_KEYS",
    "ANNOTATION_VALUES",
    "EPOCH",
    "LABEL_POOL",
    "agent_events",
    "agent_targeting_facts",
    "agents",
    "annotation_maps",
    "annotation_pairs",
    "annotation_sets",
    "deployment_objects",
    "free_labels",
    "generators",
    "k8s_objects",
    "label_sets",
    "labels",
    "names",
    "stacks",
    "timestamps",
    "work_order_targetings",
    "yaml_documents",
]
