"""Work orders on the agent: custom applies, Shipwright builds, unknown types, claim → execute → complete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from brokkr_domain.agent.shipwright import CRD_MISSING, WORK_ORDER_ID_LABEL
from brokkr_domain.agent.work_orders import WorkOrderRunner, process_work_order
from brokkr_domain.errors import TransientError
from brokkr_domain.manifests import ObjectRef
from brokkr_domain.model import Agent, WorkOrder, WorkOrderLog
from brokkr_domain.ownership import OWNER_ANNOTATION
from brokkr_domain.ports.broker_gateway import RetryScheduled
from brokkr_domain.testing.fake_broker import FakeBrokerGateway
from brokkr_domain.testing.fake_cluster import FakeCluster
from brokkr_domain.testing.fakes import FakeClock

BUILD = """
apiVersion: shipwright.io/v1beta1
kind: Build
metadata: {name: app, namespace: builds}
spec:
  source: {type: Git, git: {url: "https://example.com/app.git", revision: 2024-01-15}}
  strategy: {name: buildah, kind: ClusterBuildStrategy}
  output: {image: registry.example.com/app:1}
"""


def shipwright_crd(kind: str, plural: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.shipwright.io"},
        "spec": {
            "group": "shipwright.io",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural},
            "versions": [{"name": "v1beta1", "served": True, "storage": True}],
        },
    }


class Env:
    def __init__(self, *, shipwright: bool = True) -> None:
        self.clock = FakeClock()
        self.cluster = FakeCluster(namespaces=("default", "builds"))
        if shipwright:
            self.cluster.put(shipwright_crd("Build", "builds"))
            self.cluster.put(shipwright_crd("BuildRun", "buildruns"))
        self.broker = FakeBrokerGateway(self.clock)
        self.agent: Agent = self.broker.add_agent()
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[], None] = lambda: None
        self.runner = WorkOrderRunner(self.cluster, clock=self.clock, sleep=self.sleep)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(seconds)
        self.on_sleep()

    def order(self, work_type: str, yaml_content: str, **kw: Any) -> WorkOrder:
        return self.broker.add_work_order(work_type, yaml_content, agent_ids=[self.agent.id], **kw)

    def run(self, order: WorkOrder) -> Any:
        return process_work_order(self.broker, self.runner, self.agent.id, order)

    def run_ref(self, order: WorkOrder, build: str = "app", namespace: str = "builds") -> ObjectRef:
        return ObjectRef("shipwright.io/v1beta1", "BuildRun", namespace, f"{build}-{str(order.id)[:8]}")

    def finish_after(self, seconds: float, order: WorkOrder, status: dict[str, Any], **ref: str) -> None:
        """Simulate Shipwright: the BuildRun gets ``status`` once ``seconds`` have passed."""
        done_at = self.clock.now().timestamp() + seconds

        def tick() -> None:
            live = self.cluster.get(self.run_ref(order, **ref))
            if live is not None and self.clock.now().timestamp() >= done_at and "status" not in live:
                self.cluster.put(live | {"status": status})

        self.on_sleep = tick


def succeeded(digest: str = "sha256:abc") -> dict[str, Any]:
    return {"conditions": [{"type": "Succeeded", "status": "True"}], "output": {"digest": digest}}


def failed(reason: str = "BuildFailed", message: str = "step build exited 1") -> dict[str, Any]:
    return {
        "conditions": [
            {"type": "Succeeded", "status": "False", "reason": "Failed", "message": "see details"}
        ],
        "failureDetails": {"reason": reason, "message": message},
    }


@pytest.fixture
def env() -> Env:
    return Env()


def test_custom_applies_every_object_without_marks(env: Env) -> None:
    yaml_content = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: jobs}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: jobs}\n"
    order = env.order("custom", yaml_content)
    log = env.run(order)
    assert isinstance(log, WorkOrderLog)
    assert log.success
    assert log.result_message == "Successfully applied 2 resource(s)"
    live = env.cluster.get(ObjectRef("v1", "ConfigMap", "jobs", "c"))
    assert live is not None
    assert OWNER_ANNOTATION not in (live["metadata"].get("annotations") or {})


def test_custom_with_invalid_yaml_fails_for_good(env: Env) -> None:
    log = env.run(env.order("custom", "kind: [unclosed"))
    assert isinstance(log, WorkOrderLog)
    assert not log.success
    assert "invalid YAML" in (log.result_message or "")
    assert env.broker.completion_calls[-1].retryable is False


def test_custom_hitting_an_overloaded_cluster_is_retried(env: Env) -> None:
    env.cluster.fail_next(1, operations=["apply"])
    order = env.order("custom", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    assert isinstance(env.run(order), RetryScheduled)
    assert env.broker.completion_calls[-1].retryable is True


def test_unknown_work_type_is_final(env: Env) -> None:
    log = env.run(env.order("backup", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"))
    assert isinstance(log, WorkOrderLog)
    assert not log.success
    assert log.result_message == "Unknown work type: backup"
    assert env.broker.completion_calls[-1].retryable is False


def test_a_refused_claim_skips_the_order(env: Env) -> None:
    order = env.order("custom", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    env.broker.claim_work_order(order.id, env.agent.id)
    assert env.run(order) is None
    assert env.broker.completion_calls == []


def test_build_success_reports_the_digest(env: Env) -> None:
    order = env.order("build", BUILD)
    env.finish_after(12, order, succeeded("sha256:feed"))
    log = env.run(order)
    assert isinstance(log, WorkOrderLog)
    assert log.success
    assert log.result_message == "sha256:feed"
    build = env.cluster.get(ObjectRef("shipwright.io/v1beta1", "Build", "builds", "app"))
    assert build is not None
    assert build["spec"]["source"]["git"]["revision"] == "2024-01-15"  # dates stay text
    run = env.cluster.get(env.run_ref(order))
    assert run is not None
    assert run["metadata"]["labels"] == {WORK_ORDER_ID_LABEL: str(order.id), "shipwright.io/build": "app"}
    assert run["spec"] == {"build": {"name": "app"}}
    assert env.sleeps == [5.0, 5.0, 5.0]


def test_build_failure_reports_shipwrights_reason(env: Env) -> None:
    order = env.order("build", BUILD)
    env.finish_after(0, order, failed())
    log = env.run(order)
    assert isinstance(log, WorkOrderLog)
    assert not log.success
    assert log.result_message == "BuildFailed: step build exited 1"


def test_build_timeout_is_retryable() -> None:
    env = Env()
    env.runner = WorkOrderRunner(env.cluster, clock=env.clock, sleep=env.sleep, build_timeout_seconds=60)
    order = env.order("build", BUILD)
    outcome = env.runner.execute(env.broker.claim_work_order(order.id, env.agent.id))
    assert not outcome.success
    assert outcome.message.startswith("Timeout")
    assert outcome.retryable
    assert sum(env.sleeps) == 60


def test_build_without_shipwright_says_so() -> None:
    env = Env(shipwright=False)
    log = env.run(env.order("build", BUILD))
    assert isinstance(log, WorkOrderLog)
    assert log.result_message == CRD_MISSING
    assert env.broker.completion_calls[-1].retryable is False


def test_build_by_reference_to_an_existing_build(env: Env) -> None:
    ref_only = "apiVersion: brokkr.io/v1\nkind: WorkOrder\nspec: {buildRef: {name: shared}}\n"
    order = env.order("build", ref_only)
    env.finish_after(0, order, succeeded(), build="shared", namespace="default")
    outcome = env.runner.execute(order)
    assert outcome.success, outcome.message
    assert env.cluster.get(env.run_ref(order, build="shared", namespace="default")) is not None


def test_build_without_a_build_fails(env: Env) -> None:
    outcome = env.runner.execute(env.order("build", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"))
    assert not outcome.success
    assert "names no build" in outcome.message


def test_a_retried_build_replaces_a_failed_buildrun(env: Env) -> None:
    order = env.order("build", BUILD, max_retries=2)
    env.finish_after(0, order, failed(reason="GitRemoteTimeout", message="connection reset"))
    assert isinstance(env.run(order), RetryScheduled)  # "timeout" in the reason: worth another go
    first_uid = env.cluster.get(env.run_ref(order))["metadata"]["uid"]  # type: ignore[index]
    env.clock.advance(3600)
    env.finish_after(10, order, succeeded("sha256:second"))
    [again] = env.broker.pending_work_orders(env.agent.id)
    log = env.run(again)
    assert isinstance(log, WorkOrderLog)
    assert log.success
    assert log.result_message == "sha256:second"
    assert env.cluster.get(env.run_ref(order))["metadata"]["uid"] != first_uid  # type: ignore[index]


def test_a_retried_build_that_already_succeeded_reuses_the_result(env: Env) -> None:
    order = env.order("build", BUILD)
    env.cluster.put(
        {
            "apiVersion": "shipwright.io/v1beta1",
            "kind": "BuildRun",
            "metadata": {"name": env.run_ref(order).name, "namespace": "builds"},
            "spec": {"build": {"name": "app"}},
            "status": succeeded("sha256:earlier"),
        }
    )
    outcome = env.runner.execute(order)
    assert outcome.success
    assert outcome.message == "sha256:earlier"
    assert env.sleeps == []


def test_execute_never_raises_even_for_broken_handlers() -> None:
    def broken(order: WorkOrder) -> str:
        raise RuntimeError("handler bug")

    clock = FakeClock()
    runner = WorkOrderRunner(
        FakeCluster(), clock=clock, sleep=lambda _s: None, extra_handlers={"odd": broken}
    )
    broker = FakeBrokerGateway(clock)
    agent = broker.add_agent()
    order = broker.add_work_order("odd", "x: 1", agent_ids=[agent.id])
    outcome = runner.execute(order)
    assert outcome == (False, "RuntimeError: handler bug", False)
    assert "odd" in runner.work_types


def test_transient_errors_are_retryable_unless_they_name_a_permanent_problem(env: Env) -> None:
    def flaky(order: WorkOrder) -> str:
        raise TransientError("apiserver busy")

    def gone(order: WorkOrder) -> str:
        raise TransientError("namespace not found")

    runner = WorkOrderRunner(
        env.cluster, clock=env.clock, sleep=env.sleep, extra_handlers={"a": flaky, "b": gone}
    )
    assert runner.execute(env.order("a", "x: 1")).retryable is True
    assert runner.execute(env.order("b", "x: 1")).retryable is False
