"""Who gets what: stack association, template matching, work-order eligibility and webhook routing.

All four questions share one shape — a set of explicit ids, labels and exact ``(key, value)`` annotation pairs
on one side, an agent's (or a stack's) facts on the other — and are answered here once, so that the in-memory
adapters, the PostgreSQL queries and the use cases cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from uuid import UUID

import attrs

from brokkr_domain.model import WorkOrderTargeting
from brokkr_domain.ports.repositories import AgentTargetingFacts

Annotation = tuple[str, str]


@attrs.frozen(kw_only=True)
class StackTargetingFacts:
    """The facts of one stack that association looks at."""

    stack_id: UUID
    labels: frozenset[str] = frozenset()
    annotations: frozenset[Annotation] = frozenset()


def is_associated(
    *,
    stack_id: UUID,
    stack_labels: Iterable[str],
    stack_annotations: Iterable[Annotation],
    agent_labels: Iterable[str],
    agent_annotations: Iterable[Annotation],
    targeted_stack_ids: Collection[UUID],
) -> bool:
    """Whether an agent must deploy a stack.

    The union of three independent reasons: the agent targets the stack explicitly, or the two share at least
    one label, or they share at least one annotation pair with equal key *and* value. A shared annotation key
    with different values is no reason. Liveness (soft deletion) is not this rule's business: callers pass
    live stacks.
    """
    if stack_id in targeted_stack_ids:
        return True
    if not frozenset(agent_labels).isdisjoint(stack_labels):
        return True
    return not frozenset(agent_annotations).isdisjoint(stack_annotations)


def associated_stack_ids(
    *,
    stacks: Iterable[StackTargetingFacts],
    agent_labels: Iterable[str],
    agent_annotations: Iterable[Annotation],
    targeted_stack_ids: Collection[UUID],
) -> frozenset[UUID]:
    """The ids of the given stacks that :func:`is_associated` accepts, with the agent's facts built once."""
    labels = frozenset(agent_labels)
    annotations = frozenset(agent_annotations)
    targets = frozenset(targeted_stack_ids)
    return frozenset(
        stack.stack_id
        for stack in stacks
        if stack.stack_id in targets
        or not labels.isdisjoint(stack.labels)
        or not annotations.isdisjoint(stack.annotations)
    )


@attrs.frozen(kw_only=True)
class TemplateMatch:
    """Whether a template may be instantiated into a stack, and if not, what the stack lacks (sorted)."""

    matches: bool
    missing_labels: tuple[str, ...] = ()
    missing_annotations: tuple[Annotation, ...] = ()


def match_template(
    template_labels: Iterable[str],
    template_annotations: Iterable[Annotation],
    stack_labels: Iterable[str],
    stack_annotations: Iterable[Annotation],
) -> TemplateMatch:
    """Match a template's labels and annotations against a stack's.

    Unlike association this is a conjunction: a template that declares labels or annotations may only be used
    for stacks that carry *every* one of them (annotations compared as exact pairs). A template that declares
    none is universal. The missing ones are reported sorted so that error messages are stable.
    """
    have_labels = frozenset(stack_labels)
    have_annotations = frozenset(stack_annotations)
    missing_labels = tuple(sorted(frozenset(template_labels) - have_labels))
    missing_annotations = tuple(sorted(frozenset(template_annotations) - have_annotations))
    return TemplateMatch(
        matches=not missing_labels and not missing_annotations,
        missing_labels=missing_labels,
        missing_annotations=missing_annotations,
    )


def is_work_order_eligible(targeting: WorkOrderTargeting, agent: AgentTargetingFacts) -> bool:
    """Whether an agent may see and claim a work order: explicit target, or any shared label or pair."""
    return (
        agent.agent_id in targeting.agent_ids
        or not targeting.labels.isdisjoint(agent.labels)
        or not targeting.annotations.isdisjoint(agent.annotations)
    )


def is_broker_routed(target_labels: Collection[str] | None) -> bool:
    """Whether the broker itself delivers a webhook: the subscription names no target labels."""
    return not target_labels


def is_agent_routed_to(target_labels: Collection[str] | None, agent_labels: Iterable[str]) -> bool:
    """Whether an agent may deliver a webhook: target labels are given and the agent carries all of them.

    Empty target labels mean "broker delivers" (unlike v0.4.0, where an empty array was claimable by
    everyone), so every delivery has exactly one kind of deliverer.
    """
    if not target_labels:
        return False
    return frozenset(target_labels) <= frozenset(agent_labels)


__all__ = [
    "Annotation",
    "StackTargetingFacts",
    "TemplateMatch",
    "associated_stack_ids",
    "is_agent_routed_to",
    "is_associated",
    "is_broker_routed",
    "is_work_order_eligible",
    "match_template",
]
