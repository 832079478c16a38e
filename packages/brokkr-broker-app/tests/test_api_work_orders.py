"""Work orders over HTTP: targeting, claims, completion (200 log or 202 retry), the log, maintenance."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from brokerapp_support import Broker
from brokkr_domain.testing import FakeClock


def _task(broker: Broker, name: str) -> Callable[[], object]:
    task = next(t for t in broker.app.state.tasks if t.name == name)
    run: Callable[[], object] = task.run
    return run


def test_create_claim_and_complete(broker: Broker) -> None:
    agent, pak = broker.create_agent()
    aid = agent["id"]
    response = broker.request(
        "POST",
        "/work-orders",
        broker.admin,
        json={
            "work_type": "build",
            "yaml_content": "kind: Build\n",
            "targeting": {"agent_ids": [aid]},
            "max_retries": 2,
        },
    )
    assert response.status_code == 201
    order = response.json()
    assert (order["status"], order["work_type"], order["max_retries"], order["retry_count"]) == (
        "PENDING",
        "build",
        2,
        0,
    )
    assert [o["id"] for o in broker.ok("GET", f"/agents/{aid}/work-orders/pending", pak)] == [order["id"]]
    assert broker.ok("GET", f"/agents/{aid}/work-orders/pending", pak, params={"work_type": "custom"}) == []
    claimed = broker.ok("POST", f"/work-orders/{order['id']}/claim", pak, json={"agent_id": aid})
    assert (claimed["status"], claimed["claimed_by"]) == ("CLAIMED", aid) and claimed["claimed_at"]
    again = broker.request("POST", f"/work-orders/{order['id']}/claim", pak, json={"agent_id": aid})
    assert again.status_code == 404 and again.json()["code"] == "work_order_not_claimable"
    log = broker.ok(
        "POST", f"/work-orders/{order['id']}/complete", pak, json={"success": True, "message": "sha256:abc"}
    )
    assert (log["success"], log["result_message"], log["claimed_by"], log["retries_attempted"]) == (
        True,
        "sha256:abc",
        aid,
        0,
    )
    assert broker.ok("GET", f"/work-order-log/{log['id']}") == log
    finished = broker.ok("GET", f"/work-orders/{order['id']}")
    assert finished["status"] == "COMPLETED"
    assert broker.ok("GET", "/work-orders") == []


def test_a_failure_with_retries_left_is_202_and_a_final_one_is_logged(broker: Broker) -> None:
    agent, pak = broker.create_agent()
    aid = agent["id"]
    order = broker.create_work_order([aid], max_retries=1, backoff_seconds=1)
    broker.ok("POST", f"/work-orders/{order['id']}/claim", pak, json={"agent_id": aid})
    retry = broker.request(
        "POST", f"/work-orders/{order['id']}/complete", pak, json={"success": False, "message": "timeout"}
    )
    assert retry.status_code == 202 and retry.json() == {"status": "retry_scheduled"}
    waiting = broker.ok("GET", f"/work-orders/{order['id']}")
    assert (waiting["status"], waiting["retry_count"], waiting["last_error"]) == (
        "RETRY_PENDING",
        1,
        "timeout",
    )
    assert waiting["next_retry_after"] is not None and waiting["claimed_by"] is None
    final = broker.ok(
        "POST", f"/work-orders/{order['id']}/complete", json={"success": False, "message": "timeout again"}
    )
    assert final["success"] is False and final["result_message"] == "timeout again"
    assert broker.ok("GET", f"/work-orders/{order['id']}")["status"] == "FAILED"


def test_a_non_retryable_failure_goes_straight_to_the_log(broker: Broker) -> None:
    agent, pak = broker.create_agent()
    order = broker.create_work_order([agent["id"]], max_retries=5)
    broker.ok("POST", f"/work-orders/{order['id']}/claim", pak, json={"agent_id": agent["id"]})
    log = broker.ok(
        "POST",
        f"/work-orders/{order['id']}/complete",
        pak,
        json={"success": False, "message": "invalid", "retryable": False},
    )
    assert log["success"] is False


def test_only_the_claiming_agent_completes(broker: Broker) -> None:
    agent, pak = broker.create_agent()
    _, other_pak = broker.create_agent()
    order = broker.create_work_order([agent["id"]])
    broker.ok("POST", f"/work-orders/{order['id']}/claim", pak, json={"agent_id": agent["id"]})
    refused = broker.request(
        "POST", f"/work-orders/{order['id']}/complete", other_pak, json={"success": True}
    )
    assert refused.status_code == 403 and refused.json()["code"] == "work_order_not_claimed_by_agent"


def test_targeting_by_label_annotation_and_legacy_ids(broker: Broker) -> None:
    labelled, labelled_pak = broker.create_agent()
    annotated, annotated_pak = broker.create_agent()
    legacy, legacy_pak = broker.create_agent()
    broker.ok(
        "POST", f"/agents/{labelled['id']}/labels", json={"agent_id": labelled["id"], "label": "builder"}
    )
    note = {"agent_id": annotated["id"], "key": "arch", "value": "arm64"}
    broker.ok("POST", f"/agents/{annotated['id']}/annotations", json=note)
    by_label = broker.ok(
        "POST",
        "/work-orders",
        json={"work_type": "custom", "yaml_content": "x", "targeting": {"labels": ["builder"]}},
        status=201,
    )
    by_note = broker.ok(
        "POST",
        "/work-orders",
        json={"work_type": "custom", "yaml_content": "x", "targeting": {"annotations": {"arch": "arm64"}}},
        status=201,
    )
    by_legacy = broker.ok(
        "POST",
        "/work-orders",
        json={"work_type": "custom", "yaml_content": "x", "target_agent_ids": [legacy["id"]]},
        status=201,
    )
    assert by_legacy["targeting"]["agent_ids"] == [legacy["id"]]

    def pending(agent: dict[str, Any], pak: str) -> set[str]:
        return {o["id"] for o in broker.ok("GET", f"/agents/{agent['id']}/work-orders/pending", pak)}

    assert pending(labelled, labelled_pak) == {by_label["id"]}
    assert pending(annotated, annotated_pak) == {by_note["id"]}
    assert pending(legacy, legacy_pak) == {by_legacy["id"]}
    none = broker.request(
        "POST",
        "/work-orders",
        broker.admin,
        json={"work_type": "custom", "yaml_content": "x", "targeting": {}},
    )
    assert none.status_code == 400 and none.json()["code"] == "no_targeting_specified"


def test_lists_filter_and_delete(broker: Broker) -> None:
    agent, pak = broker.create_agent()
    build = broker.create_work_order([agent["id"]], work_type="build")
    custom = broker.create_work_order([agent["id"]])
    assert [o["id"] for o in broker.ok("GET", "/work-orders", params={"work_type": "build"})] == [build["id"]]
    assert {o["id"] for o in broker.ok("GET", "/work-orders", params={"status": "PENDING"})} == {
        build["id"],
        custom["id"],
    }
    for order, success in ((build, True), (custom, False)):
        broker.ok("POST", f"/work-orders/{order['id']}/claim", pak, json={"agent_id": agent["id"]})
        broker.ok(
            "POST", f"/work-orders/{order['id']}/complete", pak, json={"success": success, "retryable": False}
        )
    assert [e["work_type"] for e in broker.ok("GET", "/work-order-log", params={"success": "true"})] == [
        "build"
    ]
    assert len(broker.ok("GET", "/work-order-log", params={"agent_id": agent["id"]})) == 2
    assert len(broker.ok("GET", "/work-order-log", params={"limit": "1"})) == 1
    third = broker.create_work_order([agent["id"]])
    assert broker.request("DELETE", f"/work-orders/{third['id']}", broker.admin).status_code == 204
    assert broker.request("GET", f"/work-orders/{third['id']}", broker.admin).status_code == 404


def test_maintenance_requeues_due_retries_and_stale_claims(make_broker: Callable[..., Broker]) -> None:
    clock = FakeClock(datetime.now(UTC))
    broker = make_broker(clock=clock)
    agent, pak = broker.create_agent()
    retried = broker.create_work_order([agent["id"]], backoff_seconds=10, max_retries=3)
    stale = broker.create_work_order([agent["id"]], claim_timeout_seconds=60)
    for order in (retried, stale):
        broker.ok("POST", f"/work-orders/{order['id']}/claim", pak, json={"agent_id": agent["id"]})
    broker.request(
        "POST", f"/work-orders/{retried['id']}/complete", pak, json={"success": False, "message": "busy"}
    )
    maintain = _task(broker, "work_order_maintenance")
    maintain()
    assert broker.ok("GET", f"/work-orders/{retried['id']}")["status"] == "RETRY_PENDING"
    assert broker.ok("GET", f"/work-orders/{stale['id']}")["status"] == "CLAIMED"
    clock.advance(timedelta(seconds=61))  # backoff 10·2¹ = 20 s; claim timeout 60 s
    maintain()
    assert broker.ok("GET", f"/work-orders/{retried['id']}")["status"] == "PENDING"
    released = broker.ok("GET", f"/work-orders/{stale['id']}")
    assert (released["status"], released["claimed_by"]) == ("PENDING", None)
    assert released["retry_count"] == 1  # a stale claim counts as an attempt (contract decision 11)
