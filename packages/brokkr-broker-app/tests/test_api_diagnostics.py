"""Diagnostics over HTTP: the admin asks, the agent claims and answers, the admin reads the result."""

from __future__ import annotations

from brokerapp_support import Broker


def test_the_diagnostic_round_trip(broker: Broker) -> None:
    agent, pak = broker.create_agent()
    aid = agent["id"]
    stack = broker.create_stack(broker.admin_generator_id())
    obj = broker.create_object(stack["id"])
    response = broker.request(
        "POST",
        f"/deployment-objects/{obj['id']}/diagnostics",
        broker.admin,
        json={"agent_id": aid, "requested_by": "oncall", "retention_minutes": 15},
    )
    assert response.status_code == 201
    request = response.json()
    assert (request["status"], request["agent_id"], request["requested_by"]) == ("pending", aid, "oncall")
    assert request["expires_at"] > request["created_at"]
    assert [r["id"] for r in broker.ok("GET", f"/agents/{aid}/diagnostics/pending", pak)] == [request["id"]]
    early = broker.request(
        "POST",
        f"/diagnostics/{request['id']}/result",
        pak,
        json={"pod_statuses": "[]", "events": "[]", "collected_at": "2024-01-01T00:00:00Z"},
    )
    assert early.status_code == 409 and early.json()["code"] == "diagnostic_not_claimed"
    claimed = broker.ok("POST", f"/diagnostics/{request['id']}/claim", pak)
    assert claimed["status"] == "claimed" and claimed["claimed_at"]
    twice = broker.request("POST", f"/diagnostics/{request['id']}/claim", pak)
    assert twice.status_code == 409 and twice.json()["code"] == "diagnostic_already_claimed"
    assert broker.ok("GET", f"/agents/{aid}/diagnostics/pending", pak) == []
    result_body = {
        "pod_statuses": '[{"name": "p"}]',
        "events": "[]",
        "log_tails": '{"p/c": "hello"}',
        "collected_at": "2024-01-01T00:00:00Z",
    }
    stored = broker.ok("POST", f"/diagnostics/{request['id']}/result", pak, json=result_body, status=201)
    assert (stored["request_id"], stored["pod_statuses"], stored["log_tails"]) == (
        request["id"],
        '[{"name": "p"}]',
        '{"p/c": "hello"}',
    )
    view = broker.ok("GET", f"/diagnostics/{request['id']}")
    assert view["request"]["status"] == "completed" and view["result"]["id"] == stored["id"]


def test_a_pending_request_has_no_result_and_others_cannot_see_it(broker: Broker) -> None:
    agent, pak = broker.create_agent()
    _, other_pak = broker.create_agent()
    obj = broker.create_object(broker.create_stack(broker.admin_generator_id())["id"])
    request = broker.ok(
        "POST", f"/deployment-objects/{obj['id']}/diagnostics", json={"agent_id": agent["id"]}, status=201
    )
    assert broker.ok("GET", f"/diagnostics/{request['id']}", pak) == {"request": request, "result": None}
    refused = broker.request("GET", f"/diagnostics/{request['id']}", other_pak)
    assert refused.status_code == 403 and refused.json()["code"] == "diagnostic_not_owned"
    out_of_range = broker.request(
        "POST",
        f"/deployment-objects/{obj['id']}/diagnostics",
        broker.admin,
        json={"agent_id": agent["id"], "retention_minutes": 2000},
    )
    assert out_of_range.status_code == 400 and out_of_range.json()["code"] == "invalid_diagnostic_request"
