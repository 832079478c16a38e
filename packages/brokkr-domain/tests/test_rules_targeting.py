"""Properties of the targeting rules: association, template matching, eligibility and webhook routing."""

from __future__ import annotations

import uuid
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from brokkr_domain.model import WorkOrderTargeting
from brokkr_domain.ports import AgentTargetingFacts
from brokkr_domain.rules.targeting import (
    StackTargetingFacts,
    associated_stack_ids,
    is_agent_routed_to,
    is_associated,
    is_broker_routed,
    is_work_order_eligible,
    match_template,
)
from brokkr_domain.testing import strategies as bst

STACK_IDS = [uuid.UUID(int=i) for i in range(1, 6)]


def naive_associated(
    stack_id: UUID,
    stack_labels: frozenset[str],
    stack_pairs: frozenset[tuple[str, str]],
    agent_labels: frozenset[str],
    agent_pairs: frozenset[tuple[str, str]],
    targets: frozenset[UUID],
) -> bool:
    """The union spelled out with loops, as the reference describes it."""
    for target in targets:
        if target == stack_id:
            return True
    for mine in agent_labels:
        for theirs in stack_labels:
            if mine == theirs:
                return True
    for key, value in agent_pairs:
        for other_key, other_value in stack_pairs:
            if key == other_key and value == other_value:
                return True
    return False


stack_facts = st.builds(
    StackTargetingFacts,
    stack_id=st.sampled_from(STACK_IDS),
    labels=bst.label_sets(),
    annotations=bst.annotation_maps().map(lambda m: frozenset(m.items())),
)


@given(
    stack=stack_facts,
    agent_labels=bst.label_sets(),
    agent_pairs=bst.annotation_maps().map(lambda m: frozenset(m.items())),
    targets=st.frozensets(st.sampled_from(STACK_IDS), max_size=2),
)
def test_association_is_the_union_of_target_label_and_pair(
    stack: StackTargetingFacts,
    agent_labels: frozenset[str],
    agent_pairs: frozenset[tuple[str, str]],
    targets: frozenset[UUID],
) -> None:
    got = is_associated(
        stack_id=stack.stack_id,
        stack_labels=stack.labels,
        stack_annotations=stack.annotations,
        agent_labels=agent_labels,
        agent_annotations=agent_pairs,
        targeted_stack_ids=targets,
    )
    assert got == naive_associated(
        stack.stack_id, stack.labels, stack.annotations, agent_labels, agent_pairs, targets
    )


@given(
    stacks=st.lists(stack_facts, max_size=5, unique_by=lambda s: s.stack_id),
    agent_labels=bst.label_sets(),
    agent_pairs=bst.annotation_maps().map(lambda m: frozenset(m.items())),
    targets=st.frozensets(st.sampled_from(STACK_IDS), max_size=2),
)
def test_associated_stack_ids_filters_with_is_associated(
    stacks: list[StackTargetingFacts],
    agent_labels: frozenset[str],
    agent_pairs: frozenset[tuple[str, str]],
    targets: frozenset[UUID],
) -> None:
    got = associated_stack_ids(
        stacks=stacks, agent_labels=agent_labels, agent_annotations=agent_pairs, targeted_stack_ids=targets
    )
    expected = {
        s.stack_id
        for s in stacks
        if naive_associated(s.stack_id, s.labels, s.annotations, agent_labels, agent_pairs, targets)
    }
    assert got == expected


def test_same_key_with_another_value_is_no_association() -> None:
    assert not is_associated(
        stack_id=STACK_IDS[0],
        stack_labels=(),
        stack_annotations=[("tier", "gold")],
        agent_labels=(),
        agent_annotations=[("tier", "silver"), ("gold", "tier")],
        targeted_stack_ids=(),
    )


@given(
    template_labels=bst.label_sets(),
    template_pairs=bst.annotation_sets(),
    stack_labels=bst.label_sets(),
    stack_pairs=bst.annotation_sets(),
)
def test_template_matches_iff_the_stack_has_everything_it_declares(
    template_labels: frozenset[str],
    template_pairs: frozenset[tuple[str, str]],
    stack_labels: frozenset[str],
    stack_pairs: frozenset[tuple[str, str]],
) -> None:
    result = match_template(template_labels, template_pairs, stack_labels, stack_pairs)
    assert result.matches == (template_labels <= stack_labels and template_pairs <= stack_pairs)
    assert set(result.missing_labels) == template_labels - stack_labels
    assert set(result.missing_annotations) == template_pairs - stack_pairs
    assert list(result.missing_labels) == sorted(result.missing_labels)
    assert list(result.missing_annotations) == sorted(result.missing_annotations)
    healed = match_template(
        template_labels,
        template_pairs,
        stack_labels | set(result.missing_labels),
        stack_pairs | set(result.missing_annotations),
    )
    assert healed.matches


@given(stack_labels=bst.label_sets(), stack_pairs=bst.annotation_sets())
def test_a_template_without_labels_or_annotations_matches_any_stack(
    stack_labels: frozenset[str], stack_pairs: frozenset[tuple[str, str]]
) -> None:
    assert match_template((), (), stack_labels, stack_pairs).matches


def test_missing_items_are_reported_sorted() -> None:
    result = match_template(["z", "a", "m"], [("k", "2"), ("k", "1")], ["m"], [])
    assert not result.matches
    assert result.missing_labels == ("a", "z")
    assert result.missing_annotations == (("k", "1"), ("k", "2"))


AGENT_IDS = [uuid.UUID(int=i) for i in range(100, 104)]


@given(targeting=bst.work_order_targetings(AGENT_IDS), agent=bst.agent_targeting_facts(AGENT_IDS))
def test_work_order_eligibility_is_the_union(
    targeting: WorkOrderTargeting, agent: AgentTargetingFacts
) -> None:
    expected = (
        agent.agent_id in targeting.agent_ids
        or any(label in agent.labels for label in targeting.labels)
        or any(pair in agent.annotations for pair in targeting.annotations)
    )
    assert is_work_order_eligible(targeting, agent) == expected
    if targeting.is_empty:
        assert not is_work_order_eligible(targeting, agent)


target_label_lists = st.none() | st.lists(bst.labels(), max_size=3).map(tuple)


@given(target_labels=target_label_lists, agent_labels=bst.label_sets())
def test_each_delivery_has_exactly_one_kind_of_deliverer(
    target_labels: tuple[str, ...] | None, agent_labels: frozenset[str]
) -> None:
    if is_broker_routed(target_labels):
        assert not is_agent_routed_to(target_labels, agent_labels)
        assert not target_labels
    else:
        assert target_labels
        assert is_agent_routed_to(target_labels, agent_labels) == set(target_labels).issubset(agent_labels)
        assert is_agent_routed_to(target_labels, agent_labels | set(target_labels))


@given(target_labels=target_label_lists, agent_labels=bst.label_sets(), extra=bst.label_sets())
def test_agent_routing_is_monotonic_in_agent_labels(
    target_labels: tuple[str, ...] | None, agent_labels: frozenset[str], extra: frozenset[str]
) -> None:
    if is_agent_routed_to(target_labels, agent_labels):
        assert is_agent_routed_to(target_labels, agent_labels | extra)


def test_routing_examples() -> None:
    assert is_broker_routed(None)
    assert is_broker_routed(())
    assert not is_broker_routed(("edge",))
    assert is_agent_routed_to(("edge", "eu"), {"edge", "eu", "x"})
    assert not is_agent_routed_to(("edge", "us"), {"edge", "eu"})
    assert not is_agent_routed_to((), {"edge"})
    assert not is_agent_routed_to(None, {"edge"})
