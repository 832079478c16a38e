"""Health reports (all-or-nothing validation, upsert) and the stack roll-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from brokkr_domain.errors import ForbiddenError, NotFoundError, ValidationError
from brokkr_domain.model import Actor, Caller, HealthStatus, HealthSummary
from brokkr_domain.testing import FakeClock, InMemoryUnitOfWorkFactory, RecordingAuditSink, SequentialIds
from brokkr_domain.usecases import agents, generators, stacks
from brokkr_domain.usecases.context import Services
from brokkr_domain.usecases.health import MAX_UPDATES, HealthUpdate, report_health, stack_health

ADMIN = Caller(actor=Actor.admin())
YAML = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n"
T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
def audit() -> RecordingAuditSink:
    return RecordingAuditSink()


@pytest.fixture
def s(audit: RecordingAuditSink) -> Services:
    return Services(
        uow=InMemoryUnitOfWorkFactory(), clock=FakeClock(), ids=SequentialIds(seed=1), audit=audit
    )


def as_agent(agent_id: UUID) -> Caller:
    return Caller(actor=Actor.agent(agent_id))


class World:
    def __init__(self, s: Services) -> None:
        owner = generators.create_generator(s, ADMIN, name="owner")[0].id
        self.stack = stacks.create_stack(s, ADMIN, name="web", generator_id=owner).id
        self.obj1 = stacks.create_deployment_object(s, ADMIN, self.stack, yaml_content=YAML.format("a")).id
        self.obj2 = stacks.create_deployment_object(s, ADMIN, self.stack, yaml_content=YAML.format("b")).id
        self.a = agents.create_agent(s, ADMIN, name="a", cluster_name="c")[0].id
        self.b = agents.create_agent(s, ADMIN, name="b", cluster_name="c")[0].id


@pytest.fixture
def w(s: Services) -> World:
    return World(s)


def update(
    obj: UUID, status: str, *, at: datetime = T0, summary: HealthSummary | None = None
) -> HealthUpdate:
    return HealthUpdate(deployment_object_id=obj, status=status, checked_at=at, summary=summary)


def rows(s: Services, obj: UUID) -> list[tuple[UUID, HealthStatus, datetime]]:
    with s.uow() as uow:
        return sorted((r.agent_id, r.status, r.checked_at) for r in uow.health.list_for_object(obj))


def test_report_upserts_one_row_per_agent_and_object(
    s: Services, w: World, audit: RecordingAuditSink
) -> None:
    before = len(audit.entries)
    summary = HealthSummary(pods_ready=1, pods_total=2, conditions=("CrashLoopBackOff",))
    assert (
        report_health(
            s, as_agent(w.a), w.a, [update(w.obj1, "HEALTHY"), update(w.obj2, "degraded", summary=summary)]
        )
        == 2
    )
    assert rows(s, w.obj1) == [(w.a, HealthStatus.HEALTHY, T0)]
    later = T0 + timedelta(minutes=1)
    report_health(s, as_agent(w.a), w.a, [update(w.obj1, " failing ", at=later)])
    assert rows(s, w.obj1) == [(w.a, HealthStatus.FAILING, later)]
    with s.uow() as uow:
        [row] = uow.health.list_for_object(w.obj2)
    assert row.summary == summary
    assert len(audit.entries) == before, "telemetry is not audited"


def test_an_invalid_entry_rejects_the_whole_report(s: Services, w: World) -> None:
    with pytest.raises(ValidationError) as caught:
        report_health(s, as_agent(w.a), w.a, [update(w.obj1, "healthy"), update(w.obj2, "sick")])
    assert caught.value.code == "invalid_health_status"
    assert caught.value.details["field"] == "deployment_objects[1].status"
    assert rows(s, w.obj1) == []


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (
            HealthUpdate(deployment_object_id=UUID(int=1), status="healthy", checked_at=datetime(2024, 1, 1)),
            "checked_at",
        ),
        (
            HealthUpdate(
                deployment_object_id=UUID(int=1),
                status="healthy",
                checked_at=T0,
                summary=HealthSummary(pods_ready=-1, pods_total=0),
            ),
            "summary",
        ),
    ],
)
def test_timestamps_must_be_aware_and_counts_non_negative(
    s: Services, w: World, entry: HealthUpdate, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        report_health(s, as_agent(w.a), w.a, [entry])
    assert caught.value.details["field"] == f"deployment_objects[0].{field}"


def test_unknown_objects_are_404_and_nothing_is_written(s: Services, w: World) -> None:
    unknown = UUID(int=404)
    with pytest.raises(NotFoundError) as caught:
        report_health(s, as_agent(w.a), w.a, [update(w.obj1, "healthy"), update(unknown, "healthy")])
    assert caught.value.code == "deployment_object_not_found"
    assert caught.value.details["ids"] == [str(unknown)]
    assert rows(s, w.obj1) == []


def test_reports_on_soft_deleted_objects_are_accepted(s: Services, w: World) -> None:
    stacks.delete_stack(s, ADMIN, w.stack)
    report_health(s, as_agent(w.a), w.a, [update(w.obj1, "unknown")])
    assert rows(s, w.obj1) == [(w.a, HealthStatus.UNKNOWN, T0)]


def test_report_size_is_bounded(s: Services, w: World) -> None:
    with pytest.raises(ValidationError):
        report_health(s, as_agent(w.a), w.a, [update(w.obj1, "healthy")] * (MAX_UPDATES + 1))


def test_only_self_or_admin_reports(s: Services, w: World) -> None:
    with pytest.raises(ForbiddenError) as caught:
        report_health(s, as_agent(w.b), w.a, [update(w.obj1, "healthy")])
    assert caught.value.code == "agent_pak_mismatch"
    report_health(s, ADMIN, w.a, [update(w.obj1, "healthy")])
    with pytest.raises(NotFoundError):
        report_health(s, ADMIN, UUID(int=404), [])


def test_stack_health_rolls_up_live_objects(s: Services, w: World) -> None:
    report_health(s, as_agent(w.a), w.a, [update(w.obj1, "healthy"), update(w.obj2, "healthy")])
    report_health(s, as_agent(w.b), w.b, [update(w.obj1, "failing"), update(w.obj2, "degraded")])
    result = stack_health(s, ADMIN, w.stack)
    assert result.stack_id == w.stack
    assert result.overall_status is HealthStatus.FAILING
    lines = {line.id: line for line in result.deployment_objects}
    assert [line.id for line in result.deployment_objects] == [w.obj2, w.obj1]  # newest first
    assert (lines[w.obj1].status, lines[w.obj1].healthy_agents, lines[w.obj1].failing_agents) == (
        HealthStatus.FAILING,
        1,
        1,
    )
    assert (lines[w.obj2].status, lines[w.obj2].degraded_agents) == (HealthStatus.DEGRADED, 1)


def test_stack_health_of_a_deleted_stack_only_counts_live_objects(s: Services, w: World) -> None:
    report_health(s, as_agent(w.a), w.a, [update(w.obj1, "failing")])
    stacks.delete_stack(s, ADMIN, w.stack)
    result = stack_health(s, ADMIN, w.stack)
    assert result.overall_status is HealthStatus.UNKNOWN
    assert len(result.deployment_objects) == 1  # the deletion marker, with no reports


def test_stack_health_is_admin_only_and_404_for_unknown_stacks(s: Services, w: World) -> None:
    with pytest.raises(ForbiddenError):
        stack_health(s, as_agent(w.a), w.stack)
    with pytest.raises(NotFoundError):
        stack_health(s, ADMIN, UUID(int=404))
