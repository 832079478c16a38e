"""Health: the broker's roll-up of agents' reports, the agent's pod classification, and pod selection."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokkr_domain.model import DeploymentHealth, HealthStatus, HealthSummary
from brokkr_domain.rules import health as h

T0 = datetime(2024, 1, 1, tzinfo=UTC)
H, D, F, U = HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.FAILING, HealthStatus.UNKNOWN
POD_ORDER = [H, U, D, F]  # the pod roll-up's order of badness, best first


def container(
    name: str = "app",
    *,
    waiting: str | None = None,
    terminated: str | None = None,
    last_terminated: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    state: dict[str, Any] = {"running": {"startedAt": "2024-01-01T00:00:00Z"}}
    if waiting:
        state = {"waiting": {"reason": waiting, "message": message}}
    elif terminated:
        state = {"terminated": {"reason": terminated, "exitCode": 1}}
    status: dict[str, Any] = {"name": name, "ready": not (waiting or terminated), "state": state}
    if last_terminated:
        status["lastState"] = {"terminated": {"reason": last_terminated}}
    return status


def pod(
    name: str = "web-1",
    *,
    phase: str | None = "Running",
    ready: bool = True,
    containers: tuple[dict[str, Any], ...] = (),
    init: tuple[dict[str, Any], ...] = (),
    namespace: str = "apps",
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        "containerStatuses": list(containers),
    }
    if phase is not None:
        status["phase"] = phase
    if init:
        status["initContainerStatuses"] = list(init)
    return {"metadata": {"name": name, "namespace": namespace}, "status": status}


def snake(value: Any) -> Any:
    """What the Python client's ``to_dict()`` gives: the same pod with snake_case keys."""
    names = {"containerStatuses": "container_statuses", "initContainerStatuses": "init_container_statuses"}
    names |= {"lastState": "last_state", "matchLabels": "match_labels"}
    if isinstance(value, Mapping):
        return {names.get(k, k): snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake(v) for v in value]
    return value


# ------------------------------------------------------------------------------------ agents' roll-up


@pytest.mark.parametrize(
    ("statuses", "worst"),
    [([], U), ([U], U), ([U, H], H), ([H, D, U], D), ([D, F, H], F), (["healthy", "failing"], F)],
)
def test_worst_status_orders_failing_degraded_healthy_unknown(
    statuses: list[Any], worst: HealthStatus
) -> None:
    assert h.worst_status(statuses) == worst


@given(st.lists(st.sampled_from(list(HealthStatus))))
def test_worst_status_is_one_of_the_reports_and_no_report_is_worse(statuses: list[HealthStatus]) -> None:
    agent_order = [U, H, D, F]
    worst = h.worst_status(statuses)
    assert worst in statuses or (not statuses and worst == U)
    assert all(agent_order.index(s) <= agent_order.index(worst) for s in statuses)
    assert h.worst_status(reversed(statuses)) == worst


def row(object_id: uuid.UUID, status: HealthStatus, agent: int) -> DeploymentHealth:
    return DeploymentHealth(
        id=uuid.uuid4(),
        agent_id=uuid.UUID(int=agent),
        deployment_object_id=object_id,
        status=status,
        checked_at=T0,
        created_at=T0,
        updated_at=T0,
    )


def test_stack_rollup_counts_agents_per_live_object() -> None:
    a, b, c, gone = (uuid.UUID(int=i) for i in (1, 2, 3, 4))
    rows = [row(a, H, 1), row(a, D, 2), row(a, H, 3), row(b, U, 1), row(gone, F, 1)]
    result = h.stack_rollup([a, b, c], rows)
    assert result.overall_status == D  # the failing row belongs to an object that is not live
    assert result.deployment_objects == (
        h.ObjectHealth(id=a, status=D, healthy_agents=2, degraded_agents=1, failing_agents=0),
        h.ObjectHealth(id=b, status=U),
        h.ObjectHealth(id=c, status=U),
    )
    assert h.stack_rollup([], rows) == h.StackHealth(overall_status=U)


@given(st.lists(st.tuples(st.integers(min_value=0, max_value=3), st.sampled_from(list(HealthStatus)))))
def test_stack_rollup_overall_is_the_worst_object(reports: list[tuple[int, HealthStatus]]) -> None:
    objects = [uuid.UUID(int=i) for i in range(3)]  # object 3 is not live
    rows = [row(uuid.UUID(int=o), s, n) for n, (o, s) in enumerate(reports)]
    result = h.stack_rollup(objects, rows)
    assert result.overall_status == h.worst_status(line.status for line in result.deployment_objects)
    for line in result.deployment_objects:
        mine = [r.status for r in rows if r.deployment_object_id == line.id]
        assert line.status == h.worst_status(mine)
        assert (line.healthy_agents, line.degraded_agents, line.failing_agents) == (
            mine.count(H),
            mine.count(D),
            mine.count(F),
        )


# ---------------------------------------------------------------------------------- pod classification


def test_no_pods_is_unknown_with_an_empty_summary() -> None:
    assert h.classify_pods([]) == (U, HealthSummary())


def test_all_ready_is_healthy() -> None:
    status, summary = h.classify_pods([pod("a", containers=(container(),)), pod("b")])
    assert status == H
    assert summary == HealthSummary(pods_ready=2, pods_total=2)


@pytest.mark.parametrize("reason", sorted(h.DEGRADED_WAITING_REASONS))
def test_each_bad_waiting_reason_degrades(reason: str) -> None:
    bad = pod("web-2", ready=False, containers=(container(waiting=reason, message="details here"),))
    status, summary = h.classify_pods([pod("web-1"), bad])
    assert status == D
    assert (summary.pods_ready, summary.pods_total, summary.conditions) == (1, 2, (reason,))
    (resource,) = summary.resources
    assert (resource.kind, resource.name, resource.namespace, resource.ready) == (
        "Pod",
        "web-2",
        "apps",
        False,
    )
    assert resource.message is not None
    assert reason in resource.message
    assert "details here" in resource.message


@pytest.mark.parametrize("reason", sorted(h.DEGRADED_TERMINATED_REASONS))
def test_each_bad_terminated_reason_degrades(reason: str) -> None:
    status, summary = h.classify_pods([pod(ready=False, containers=(container(terminated=reason),))])
    assert (status, summary.conditions) == (D, (reason,))


def test_harmless_container_states_do_not_count_as_problems() -> None:
    starting = pod(ready=False, phase="Pending", containers=(container(waiting="ContainerCreating"),))
    status, summary = h.classify_pods([starting])
    assert (status, summary.conditions) == (D, ())  # degraded only because it is not ready yet
    finished_sidecar = pod(containers=(container(terminated="Completed"),))
    assert h.classify_pods([finished_sidecar])[0] == H


def test_an_oom_kill_in_the_last_state_degrades_a_running_pod() -> None:
    status, summary = h.classify_pods([pod(containers=(container(last_terminated="OOMKilled"),))])
    assert (status, summary.conditions, summary.pods_ready) == (D, ("OOMKilled",), 1)
    assert summary.resources[0].ready is True


def test_init_containers_stuck_in_a_bad_state_degrade() -> None:
    stuck = pod(phase="Pending", ready=False, init=(container("init-db", waiting="ImagePullBackOff"),))
    status, summary = h.classify_pods([stuck])
    assert (status, summary.conditions) == (D, ("InitContainer:ImagePullBackOff",))
    assert "init-db" in (summary.resources[0].message or "")


def test_a_failed_pod_is_failing_whatever_comes_after_it() -> None:
    failed = pod("a", phase="Failed", ready=False, containers=(container(terminated="Error"),))
    crashing = pod("b", ready=False, containers=(container(waiting="CrashLoopBackOff"),))
    for pods in ([failed, crashing], [crashing, failed]):
        status, summary = h.classify_pods(pods)
        assert status == F
        assert summary.conditions == ("CrashLoopBackOff", "Error", "PodFailed")
        assert [r.name for r in summary.resources] == ["a", "b"]


def test_unknown_phase_is_unknown_unless_something_worse_is_seen() -> None:
    lost = pod("lost", phase="Unknown", ready=False)
    assert h.classify_pods([lost])[0] == U
    assert h.classify_pods([lost, pod("ok")])[0] == U
    assert h.classify_pods([lost, pod("pending", phase="Pending", ready=False)])[0] == D
    crashing = pod("c", ready=False, containers=(container(waiting="CrashLoopBackOff"),))
    assert h.classify_pods([crashing, lost])[0] == D


def test_succeeded_pods_of_finished_jobs_count_as_ready() -> None:
    status, summary = h.classify_pods([pod(phase="Succeeded", ready=False)])
    assert (status, summary.pods_ready) == (H, 1)


def test_snake_case_manifests_classify_alike() -> None:
    pods = [
        pod("a", ready=False, containers=(container(waiting="ErrImagePull"),)),
        pod("b", containers=(container(last_terminated="OOMKilled"),)),
        pod("c", phase="Pending", ready=False, init=(container("i", waiting="CrashLoopBackOff"),)),
    ]
    assert h.classify_pods(snake(pods)) == h.classify_pods(pods)


def test_garbage_in_a_pod_does_not_crash_the_classifier() -> None:
    odd: list[dict[str, Any]] = [
        {},
        {"metadata": None, "status": {"containerStatuses": "nope", "conditions": [None, 3]}},
        {"status": {"containerStatuses": [{"state": {"waiting": {"reason": None}}}]}},
    ]
    status, summary = h.classify_pods(odd)
    assert (status, summary.pods_total, summary.pods_ready) == (D, 3, 0)


waiting_reason = st.sampled_from(
    [*sorted(h.DEGRADED_WAITING_REASONS), "ContainerCreating", "PodInitializing"]
)
terminated_reason = st.sampled_from([*sorted(h.DEGRADED_TERMINATED_REASONS), "Completed"])
containers = st.builds(
    container,
    st.sampled_from(["app", "sidecar"]),
    waiting=st.none() | waiting_reason,
    terminated=st.none() | terminated_reason,
    last_terminated=st.none() | terminated_reason,
)
pods = st.builds(
    pod,
    st.text("abcdef", min_size=1, max_size=4),
    phase=st.sampled_from([None, "Running", "Pending", "Succeeded", "Failed", "Unknown"]),
    ready=st.booleans(),
    containers=st.lists(containers, max_size=3).map(tuple),
    init=st.lists(containers, max_size=2).map(tuple),
)


@given(st.lists(pods, max_size=6), st.randoms())
def test_classification_does_not_depend_on_pod_order(some: list[dict[str, Any]], rnd: Any) -> None:
    shuffled = list(some)
    rnd.shuffle(shuffled)
    assert h.classify_pods(shuffled) == h.classify_pods(some)


@given(st.lists(pods, min_size=1, max_size=5), pods)
def test_another_pod_never_makes_things_look_better(
    some: list[dict[str, Any]], extra: dict[str, Any]
) -> None:
    before, _ = h.classify_pods(some)
    after, _ = h.classify_pods([*some, extra])
    assert POD_ORDER.index(after) >= POD_ORDER.index(before)


@given(st.lists(pods, max_size=6))
def test_summary_is_consistent_with_the_verdict(some: list[dict[str, Any]]) -> None:
    status, summary = h.classify_pods(some)
    assert 0 <= summary.pods_ready <= summary.pods_total == len(some)
    assert list(summary.conditions) == sorted(set(summary.conditions))
    if status == H:
        assert summary.pods_ready == summary.pods_total
        assert summary.conditions == ()
        assert summary.resources == ()
    if "PodFailed" in summary.conditions:
        assert status == F
    elif summary.conditions:
        assert status == D


# ---------------------------------------------------------------------------------------- selection


def workload(kind: str, spec: dict[str, Any], namespace: str | None = "apps") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "web"}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": metadata, "spec": spec}


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"])
def test_controllers_select_with_their_match_labels(kind: str) -> None:
    spec = {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}}}
    selector = h.workload_pod_selector(workload(kind, spec))
    assert selector == h.PodSelector(namespace="apps", match_labels={"app": "web"})
    assert h.workload_pod_selector(snake(workload(kind, spec))) == selector


def test_selectors_without_match_labels_are_not_guessed() -> None:
    only_expressions = {"selector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}}
    assert h.workload_pod_selector(workload("Deployment", only_expressions)) is None
    assert h.workload_pod_selector(workload("ConfigMap", {})) is None
    assert h.workload_pod_selector(workload("CronJob", {"jobTemplate": {}})) is None


def test_replication_controllers_use_their_plain_selector() -> None:
    selector = h.workload_pod_selector(workload("ReplicationController", {"selector": {"app": "old"}}, None))
    assert selector == h.PodSelector(match_labels={"app": "old"})


def test_jobs_fall_back_to_the_labels_the_job_controller_sets() -> None:
    with_uid = {"template": {"metadata": {"labels": {"batch.kubernetes.io/controller-uid": "u-1", "x": "y"}}}}
    assert h.workload_pod_selector(workload("Job", with_uid)) == h.PodSelector(
        namespace="apps", match_labels={"batch.kubernetes.io/controller-uid": "u-1"}
    )
    legacy = {"template": {"metadata": {"labels": {"job-name": "web"}}}}
    assert h.workload_pod_selector(workload("Job", legacy)) == h.PodSelector(
        namespace="apps", match_labels={"job-name": "web"}
    )
    assert h.workload_pod_selector(workload("Job", {})) == h.PodSelector(
        namespace="apps", match_labels={"batch.kubernetes.io/job-name": "web"}
    )


def test_a_bare_pod_is_found_by_name() -> None:
    selector = h.workload_pod_selector({"kind": "Pod", "metadata": {"name": "solo", "namespace": "apps"}})
    assert selector == h.PodSelector(namespace="apps", pod_name="solo")
    assert selector.matches(pod("solo"))
    assert not selector.matches(pod("other"))
    assert not selector.matches(pod("solo", namespace="elsewhere"))


@given(
    wanted=st.dictionaries(st.sampled_from("abc"), st.sampled_from("xyz"), min_size=1),
    extra=st.dictionaries(st.sampled_from("def"), st.sampled_from("xyz")),
)
def test_a_deployment_selector_matches_the_pods_of_its_template(
    wanted: dict[str, str], extra: dict[str, str]
) -> None:
    selector = h.workload_pod_selector(workload("Deployment", {"selector": {"matchLabels": wanted}}))
    assert selector is not None
    member = {"metadata": {"name": "p", "namespace": "apps", "labels": wanted | extra}}
    assert selector.matches(member)
    key = next(iter(wanted))
    stranger = {"metadata": {"name": "p", "namespace": "apps", "labels": {**wanted, key: "other"}}}
    assert not selector.matches(stranger)
