"""The target state of an agent: which deployment objects it must converge to right now.

This is THE rule of Brokkr's pull model. Every implementation of
``DeploymentObjectRepository.target_state`` (the in-memory adapter, the PostgreSQL query) must return exactly
what :func:`compute_target_state` returns for the same rows; the contract suites and a property test check it.

The rule, given one agent ``A``:

1. **Live stacks.** For every stack associated with ``A`` (see ``rules.targeting``) that is not soft-deleted,
   take its latest live deployment object: the one with the highest ``sequence_id`` among the stack's objects
   whose ``deleted_at`` is NULL. A stack with no live object contributes nothing. That latest object may
   itself be a deletion marker; it is returned like any other object.
2. **Deleted stacks (contract decision 4).** For every soft-deleted stack that ``A`` *deployed* — ``A`` has a
   live event on at least one of the stack's objects, soft-deleted objects included (deleting a stack
   soft-deletes its objects) — take the stack's latest live deletion marker (``is_deletion_marker`` and
   ``deleted_at`` NULL), unless ``A`` already has a live event, of any status, on that marker: that event is
   the agent's acknowledgement. Association is not required here: an agent that never deployed a stack never
   receives its marker, and an agent that did receives it even if its labels or targets have changed since.
3. **Incremental mode (contract decision 5).** Drop every object on which ``A`` has a live ``SUCCESS`` event.
   A ``FAILURE`` event never hides an object, so failed deployments come back on every poll until they succeed
   or a newer object supersedes them (v0.4.0 hid them forever).
4. **Order.** Sort by ``sequence_id`` descending (newest first, across stacks).

Only ``A``'s own live events count; other agents' events and soft-deleted events are ignored.

In SQL terms (a sketch for the PostgreSQL adapter)::

    latest per live associated stack: DISTINCT ON (stack_id) ... WHERE o.deleted_at IS NULL
        AND s.deleted_at IS NULL AND s.id IN (<association>) ORDER BY stack_id, sequence_id DESC
    markers: DISTINCT ON (stack_id) ... WHERE o.is_deletion_marker AND o.deleted_at IS NULL
        AND s.deleted_at IS NOT NULL
        AND EXISTS (event e JOIN deployment_objects d ON d.id = e.deployment_object_id
                    WHERE d.stack_id = s.id AND e.agent_id = :agent AND e.deleted_at IS NULL)
        ORDER BY stack_id, sequence_id DESC, then drop rows with a live event of :agent on the marker
    incremental: AND NOT EXISTS (live SUCCESS event of :agent on the object)
    ORDER BY sequence_id DESC
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from uuid import UUID

from brokkr_domain.model import AgentEvent, DeploymentObject, Stack


def compute_target_state(
    *,
    agent_id: UUID,
    associated_stack_ids: Collection[UUID],
    stacks: Iterable[Stack],
    objects: Iterable[DeploymentObject],
    events: Iterable[AgentEvent],
    incremental: bool,
) -> list[DeploymentObject]:
    """Apply the rule of this module.

    ``stacks`` and ``objects`` must include soft-deleted rows (rule 2 needs them); rows of unrelated stacks
    and events of other agents may be passed and are ignored. Stacks are looked up by id, so an object whose
    stack is not among ``stacks`` is ignored.
    """
    stack_by_id = {stack.id: stack for stack in stacks}
    all_objects = list(objects)
    stack_of_object = {obj.id: obj.stack_id for obj in all_objects}

    my_events = [event for event in events if event.agent_id == agent_id and event.deleted_at is None]
    objects_with_event = {event.deployment_object_id for event in my_events}
    objects_succeeded = {event.deployment_object_id for event in my_events if event.succeeded}
    stacks_deployed = {
        stack_of_object[object_id] for object_id in objects_with_event if object_id in stack_of_object
    }

    latest_live: dict[UUID, DeploymentObject] = {}
    latest_marker: dict[UUID, DeploymentObject] = {}
    for obj in all_objects:
        if obj.deleted_at is not None:
            continue
        _keep_latest(latest_live, obj)
        if obj.is_deletion_marker:
            _keep_latest(latest_marker, obj)

    wanted: list[DeploymentObject] = []
    for stack_id, stack in stack_by_id.items():
        if stack.deleted_at is None:
            if stack_id in associated_stack_ids and stack_id in latest_live:
                wanted.append(latest_live[stack_id])
        elif stack_id in stacks_deployed and stack_id in latest_marker:
            marker = latest_marker[stack_id]
            if marker.id not in objects_with_event:
                wanted.append(marker)

    if incremental:
        wanted = [obj for obj in wanted if obj.id not in objects_succeeded]
    wanted.sort(key=lambda obj: obj.sequence_id, reverse=True)
    return wanted


def _keep_latest(latest: dict[UUID, DeploymentObject], obj: DeploymentObject) -> None:
    current = latest.get(obj.stack_id)
    if current is None or obj.sequence_id > current.sequence_id:
        latest[obj.stack_id] = obj


__all__ = ["compute_target_state"]
