"""Level-based reconciliation of one agent's cluster with its target state.

Every tick the agent hands in the *full* target state (the latest deployment object of every stack it serves,
deletion markers included) and the reconciler converges the cluster stack by stack:

- a deletion marker removes everything this agent owns of the stack (contract decision 4) and is acknowledged
  with a SUCCESS event;
- any other object is parsed, ordered (Namespaces, CRDs, the rest), stamped with our ownership marks (users'
  labels and annotations kept, contract decision 6), validated with a dry run, applied, and the stack's stale
  objects are pruned; the outcome is reported once per (object, outcome), not every tick;
- a stack whose object was applied already is skipped unless its live objects drifted (one of them is gone,
  or carries another checksum or owner), so a steady state costs a few GETs, not a re-apply;
- a failure is retried with a deterministic exponential backoff (5 s doubling up to 300 s by default) until it
  succeeds or a newer object of the stack supersedes it (contract decision 5). Deletion markers are *not*
  reported as FAILURE: the broker treats any event on a marker as its acknowledgement and would stop
  delivering it, so a failed deletion stays silent and is retried instead.

Pruning and deletion list the stack's own objects (one label selector); only when that would remove a namespace
we created do they look at every object the agents manage, so the namespace is kept while another stack still
has objects in it.

Stacks are independent: any error, even an unexpected one, fails only its own stack. The reconciler keeps
only what it can rebuild: after a restart every stack is applied once more (a no-op for server-side apply)
and the namespaces it created are recognised by their ``brokkr.io/created-namespace`` annotation, which is the
durable record that a namespace may be deleted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import attrs

from brokkr_domain.agent._batch import describe, run_each
from brokkr_domain.errors import BrokkrError, ValidationError
from brokkr_domain.manifests import (
    KubeObject,
    ObjectRef,
    is_crd,
    is_namespace,
    order_for_apply,
    parse_manifests,
)
from brokkr_domain.model import DeploymentObject
from brokkr_domain.ownership import (
    MANAGED_SELECTOR,
    OwnershipMarks,
    checksum_of,
    deletion_set,
    is_owned_by,
    mark,
    namespace_created_by_us,
    prune_set,
    stack_selector,
)
from brokkr_domain.ports.broker_gateway import BrokerGateway, EventReport
from brokkr_domain.ports.cluster import Cluster
from brokkr_domain.ports.system import Clock

DEPLOY_EVENT = "DEPLOY"
SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
DEFAULT_BACKOFF_INITIAL_SECONDS = 5.0
DEFAULT_BACKOFF_MAX_SECONDS = 300.0
CRD_WAIT_POLL_SECONDS = 0.5


def backoff_delay(failures: int, initial: float, maximum: float) -> float:
    """Wait after the ``failures``-th failure in a row: ``initial · 2^(failures-1)``, at most ``maximum``."""
    return float(min(initial * (1 << max(failures - 1, 0)), maximum))


@attrs.frozen(kw_only=True)
class TickReport:
    """What one tick did, for logs and metrics. Stacks and objects are named by id."""

    applied: tuple[UUID, ...] = ()  # deployment objects applied
    deleted: tuple[UUID, ...] = ()  # deletion markers carried out
    removed: tuple[ObjectRef, ...] = ()  # cluster objects deleted (pruned or by a marker)
    failed: Mapping[UUID, str] = attrs.field(factory=dict)  # stack id -> error text
    skipped: tuple[UUID, ...] = ()  # stacks already converged
    waiting: tuple[UUID, ...] = ()  # stacks in failure backoff


@attrs.define
class _StackState:
    """What the reconciler remembers about one stack between ticks."""

    object_id: UUID  # the object the fields below are about
    applied: bool = False
    refs: tuple[ObjectRef, ...] = ()
    failures: int = 0
    retry_at: datetime | None = None
    last_error: str | None = None
    outcome: tuple[str, str | None] | None = None  # (status, message) waiting to be reported
    reported: set[str] = attrs.field(factory=set)  # statuses already reported for object_id
    drift_checked_at: datetime | None = None


@attrs.define
class _Tick:
    applied: list[UUID] = attrs.field(factory=list)
    deleted: list[UUID] = attrs.field(factory=list)
    removed: list[ObjectRef] = attrs.field(factory=list)
    failed: dict[UUID, str] = attrs.field(factory=dict)
    skipped: list[UUID] = attrs.field(factory=list)
    waiting: list[UUID] = attrs.field(factory=list)

    def freeze(self) -> TickReport:
        return TickReport(
            applied=tuple(self.applied),
            deleted=tuple(self.deleted),
            removed=tuple(self.removed),
            failed=dict(self.failed),
            skipped=tuple(self.skipped),
            waiting=tuple(self.waiting),
        )


class Reconciler:
    """Converges the cluster with the agent's target state; one instance per agent process.

    ``executor``/``max_parallel`` let independent objects of one priority group be applied concurrently;
    ``sleep`` (e.g. ``time.sleep``) lets the reconciler wait up to ``crd_wait_seconds`` for freshly applied
    CRDs to be served before their custom resources are validated (without it a stack with a CRD and its
    resources may fail once and succeed on the retry). ``drift_check_seconds`` spaces the drift checks of
    converged stacks (0: every tick).
    """

    def __init__(
        self,
        cluster: Cluster,
        gateway: BrokerGateway,
        *,
        clock: Clock,
        executor: Executor | None = None,
        max_parallel: int = 4,
        backoff_initial_seconds: float = DEFAULT_BACKOFF_INITIAL_SECONDS,
        backoff_max_seconds: float = DEFAULT_BACKOFF_MAX_SECONDS,
        drift_check_seconds: float = 0.0,
        sleep: Callable[[float], None] | None = None,
        crd_wait_seconds: float = 10.0,
    ) -> None:
        self._cluster = cluster
        self._gateway = gateway
        self._clock = clock
        self._executor = executor
        self._max_parallel = max(1, max_parallel)
        self._backoff = (backoff_initial_seconds, backoff_max_seconds)
        self._drift_every = timedelta(seconds=drift_check_seconds)
        self._sleep = sleep
        self._crd_wait = crd_wait_seconds
        self._stacks: dict[UUID, _StackState] = {}
        self._lock = threading.Lock()  # guards ``_stacks`` for readers on other threads (health, diagnostics)

    # ------------------------------------------------------------------------------------------ queries

    def deployed(self) -> dict[UUID, list[ObjectRef]]:
        """Deployment objects currently applied (markers excluded), with the refs of their cluster objects."""
        with self._lock:
            states = list(self._stacks.values())
        return {s.object_id: list(s.refs) for s in states if s.applied and s.refs}

    def objects_of(self, deployment_object_id: UUID) -> list[ObjectRef]:
        """Refs of an applied deployment object (empty if this process has not, or no longer, applied it)."""
        return self.deployed().get(deployment_object_id, [])

    def failing(self) -> dict[UUID, str]:
        """Stacks whose current object failed, with the last error."""
        with self._lock:
            states = list(self._stacks.items())
        return {sid: s.last_error for sid, s in states if s.last_error is not None}

    # ------------------------------------------------------------------------------------------ the tick

    def reconcile(self, target_state: Sequence[DeploymentObject], agent_id: UUID) -> TickReport:
        """One level-based pass over the full target state; never raises for a stack's failure."""
        now = self._clock.now()
        latest: dict[UUID, DeploymentObject] = {}
        for obj in target_state:
            if obj.stack_id not in latest or obj.sequence_id > latest[obj.stack_id].sequence_id:
                latest[obj.stack_id] = obj
        with self._lock:
            for gone in set(self._stacks) - set(latest):
                del self._stacks[gone]  # no longer targeted: forget, never touch
        tick = _Tick()
        for obj in sorted(latest.values(), key=lambda o: o.sequence_id):
            self._reconcile_stack(obj, agent_id, now, tick)
        return tick.freeze()

    def _reconcile_stack(self, obj: DeploymentObject, agent_id: UUID, now: datetime, tick: _Tick) -> None:
        state = self._stacks.get(obj.stack_id)
        if state is None or state.object_id != obj.id:  # new, or superseded: start over without backoff
            state = _StackState(object_id=obj.id)
            with self._lock:
                self._stacks[obj.stack_id] = state
        if state.retry_at is not None and now < state.retry_at:
            tick.waiting.append(obj.stack_id)
        elif state.applied and (obj.is_deletion_marker or not self._drifted(state, obj, agent_id, now)):
            tick.skipped.append(obj.stack_id)
        else:
            try:
                if obj.is_deletion_marker:
                    tick.removed.extend(self._delete_stack(obj, agent_id))
                    tick.deleted.append(obj.id)
                else:
                    state.refs, removed = self._apply_stack(obj, agent_id)
                    tick.applied.append(obj.id)
                    tick.removed.extend(removed)
            except Exception as exc:  # any failure stays inside its stack
                message = describe(exc)
                state.failures += 1
                state.applied = False
                state.retry_at = now + timedelta(seconds=backoff_delay(state.failures, *self._backoff))
                state.last_error = message
                tick.failed[obj.stack_id] = message
                if not obj.is_deletion_marker:
                    state.outcome = (FAILURE, message)
            else:
                state.applied, state.failures, state.retry_at, state.last_error = True, 0, None, None
                state.drift_checked_at = now
                state.outcome = (SUCCESS, None)
        self._report(state, obj, agent_id)

    def _report(self, state: _StackState, obj: DeploymentObject, agent_id: UUID) -> None:
        """Send the pending outcome once; if the broker cannot take it now, try again next tick."""
        if state.outcome is None or state.outcome[0] in state.reported:
            return
        status, message = state.outcome
        report = EventReport(
            deployment_object_id=obj.id, event_type=DEPLOY_EVENT, status=status, message=message
        )
        try:
            self._gateway.report_event(agent_id, report)
        except BrokkrError:
            return
        state.reported.add(status)

    # ------------------------------------------------------------------------------------------ apply

    def _drifted(self, state: _StackState, obj: DeploymentObject, agent_id: UUID, now: datetime) -> bool:
        if state.drift_checked_at is not None and now - state.drift_checked_at < self._drift_every:
            return False
        state.drift_checked_at = now
        for ref in state.refs:
            try:
                live = self._cluster.get(ref)
            except BrokkrError:
                return True
            if live is None or checksum_of(live) != obj.yaml_checksum or not is_owned_by(live, agent_id):
                return True
        return False

    def _apply_stack(
        self, obj: DeploymentObject, agent_id: UUID
    ) -> tuple[tuple[ObjectRef, ...], list[ObjectRef]]:
        """Apply one deployment object; returns the refs of its objects and what was pruned."""
        marks = OwnershipMarks(
            stack_id=obj.stack_id, checksum=obj.yaml_checksum, deployment_object_id=obj.id, owner_id=agent_id
        )
        ordered = order_for_apply(parse_manifests(obj.yaml_content))
        namespaces = [o for o in ordered if is_namespace(o)]
        crds = [o for o in ordered if is_crd(o)]
        rest = [mark(o, marks) for o in ordered if not is_namespace(o) and not is_crd(o)]
        # Later objects' dry runs need their namespaces and kinds to exist: those go in for real first.
        self._apply_group([self._mark_namespace(ns, marks) for ns in namespaces], dry_run=False)
        self._apply_group([mark(crd, marks) for crd in crds], dry_run=False)
        self._wait_for_crds(crds)
        self._apply_group(rest, dry_run=True)
        self._apply_group(rest, dry_run=False)
        refs = tuple(o.ref for o in ordered)
        doomed = self._doomed(
            obj.stack_id,
            lambda observed: prune_set(
                observed,
                stack_id=obj.stack_id,
                current_checksum=obj.yaml_checksum,
                owner_id=agent_id,
                desired_refs=set(refs),
                namespaces_created_by_us=_created_namespaces(observed),
            ),
        )
        return refs, self._delete_all(doomed)

    def _doomed(
        self, stack_id: UUID, select: Callable[[Sequence[Mapping[str, Any]]], list[ObjectRef]]
    ) -> list[ObjectRef]:
        """What ``select`` picks for deletion, listing only the stack's own objects when that is enough.

        The objects a stack may lose depend on themselves alone, except a namespace, which is kept while other
        stacks' objects live in it. So the stack's own objects decide, and only when they would remove a
        namespace is everything the agents manage listed to check that no other stack still uses it (more
        objects can only keep namespaces, never add deletions). A steady fleet thus never lists the whole
        cluster once per stack.
        """
        doomed = select(self._cluster.list_by_labels(stack_selector(stack_id)))
        if any(is_namespace(ref) for ref in doomed):
            doomed = select(self._cluster.list_by_labels(MANAGED_SELECTOR))
        return doomed

    def _mark_namespace(self, namespace: KubeObject, marks: OwnershipMarks) -> KubeObject:
        """Mark a Namespace as created by us only if it did not exist, or already carries that mark."""
        live = self._cluster.get(namespace.ref)
        return mark(namespace, marks, created_namespace=live is None or namespace_created_by_us(live))

    def _apply_group(self, objects: Sequence[KubeObject], *, dry_run: bool) -> None:
        def apply(one: KubeObject) -> None:
            self._cluster.apply(one, dry_run=dry_run)

        failures = run_each(
            apply,
            objects,
            executor=self._executor,
            max_parallel=self._max_parallel,
            stop_on_error=not dry_run,
        )
        if failures:
            what = "validation failed" if dry_run else "apply failed"
            details = "\n".join(f"{one.ref}: {describe(exc)}" for one, exc in failures)
            raise ValidationError(f"{what}: {details}" if len(failures) == 1 else f"{what}:\n{details}")

    def _wait_for_crds(self, crds: Sequence[KubeObject]) -> None:
        """Poll discovery until every freshly applied CRD's kind is served (when a ``sleep`` was given)."""
        if self._sleep is None:
            return
        pending = [kind for crd in crds if (kind := _served_kind(crd.body)) is not None]
        waited = 0.0
        while pending and waited < self._crd_wait:
            pending = [kind for kind in pending if not self._is_served(*kind)]
            if pending:
                self._sleep(CRD_WAIT_POLL_SECONDS)
                waited += CRD_WAIT_POLL_SECONDS

    def _is_served(self, api_version: str, kind: str) -> bool:
        try:
            self._cluster.is_namespaced(api_version, kind)
        except ValidationError:
            return False
        return True

    # ------------------------------------------------------------------------------------------ delete

    def _delete_stack(self, obj: DeploymentObject, agent_id: UUID) -> list[ObjectRef]:
        doomed = self._doomed(
            obj.stack_id,
            lambda observed: deletion_set(
                observed,
                stack_id=obj.stack_id,
                owner_id=agent_id,
                namespaces_created_by_us=_created_namespaces(observed),
            ),
        )
        return self._delete_all(doomed)

    def _delete_all(self, refs: Iterable[ObjectRef]) -> list[ObjectRef]:
        """Delete in reverse dependency order: plain objects, then CRDs, then namespaces.

        Deleting a CRD or a namespace first would take objects with it and make their own deletes fail.
        """
        ordered = sorted(refs, key=lambda ref: 2 if is_namespace(ref) else 1 if is_crd(ref) else 0)
        removed: list[ObjectRef] = []
        for ref in ordered:
            if self._cluster.delete(ref):
                removed.append(ref)
        return removed


def _created_namespaces(observed: Iterable[Mapping[str, Any]]) -> set[str]:
    names: set[str] = set()
    for live in observed:
        if (
            live.get("kind") == "Namespace"
            and live.get("apiVersion") == "v1"
            and namespace_created_by_us(live)
        ):
            name = (live.get("metadata") or {}).get("name")
            if isinstance(name, str):
                names.add(name)
    return names


def _served_kind(crd: Mapping[str, Any]) -> tuple[str, str] | None:
    """(apiVersion, kind) of a CRD's first served version, or None if the CRD does not say."""
    spec = crd.get("spec")
    if not isinstance(spec, Mapping):
        return None
    group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
    versions = [
        v.get("name") for v in spec.get("versions") or [] if isinstance(v, Mapping) and v.get("served", True)
    ]
    if not (isinstance(group, str) and isinstance(kind, str) and versions and isinstance(versions[0], str)):
        return None
    return f"{group}/{versions[0]}", kind


__all__ = [
    "DEFAULT_BACKOFF_INITIAL_SECONDS",
    "DEFAULT_BACKOFF_MAX_SECONDS",
    "DEPLOY_EVENT",
    "FAILURE",
    "SUCCESS",
    "Reconciler",
    "TickReport",
    "backoff_delay",
]
