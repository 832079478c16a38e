"""Agents over HTTP: registration, self-service, labels/annotations/targets, events, target state, keys."""

from __future__ import annotations

from brokerapp_support import CONFIGMAP, Broker


def test_registering_an_agent_returns_it_with_its_key_once(broker: Broker) -> None:
    response = broker.request(
        "POST", "/agents", broker.admin, json={"name": "edge-1", "cluster_name": "prod"}
    )
    assert response.status_code == 200  # the spec says 200, not 201
    body = response.json()
    assert set(body) == {"agent", "initial_pak"}
    agent = body["agent"]
    assert (agent["name"], agent["cluster_name"], agent["status"]) == ("edge-1", "prod", "INACTIVE")
    assert agent["last_heartbeat"] is None and agent["deleted_at"] is None
    assert "pak_hash" not in agent
    assert body["initial_pak"].startswith("brokkr_BR")
    me = broker.ok("POST", "/auth/pak", body["initial_pak"])
    assert me == {"admin": False, "agent": agent["id"], "generator": None}
    assert [a["id"] for a in broker.ok("GET", "/agents")] == [agent["id"]]
    assert broker.ok("GET", f"/agents/{agent['id']}") == agent


def test_an_agent_finds_itself_by_name_and_cluster(broker: Broker) -> None:
    agent, pak = broker.create_agent(name="finder", cluster="east")
    query = {"name": "finder", "cluster_name": "east"}
    assert broker.ok("GET", "/agents/", pak, params=query)["id"] == agent["id"]
    assert broker.ok("GET", "/agents/", params=query)["id"] == agent["id"]
    _, other = broker.create_agent()
    assert broker.request("GET", "/agents/", other, params=query).status_code == 403
    missing = broker.request(
        "GET", "/agents/", broker.admin, params={"name": "nobody", "cluster_name": "east"}
    )
    assert missing.status_code == 404 and missing.json()["code"] == "agent_not_found"


def test_updates_change_only_the_fields_sent(broker: Broker) -> None:
    agent, pak = broker.create_agent(name="a1", cluster="c1")
    updated = broker.ok("PUT", f"/agents/{agent['id']}", pak, json={"status": "ACTIVE"})
    assert (updated["name"], updated["cluster_name"], updated["status"]) == ("a1", "c1", "ACTIVE")
    assert updated["updated_at"] > agent["updated_at"]
    renamed = broker.ok("PUT", f"/agents/{agent['id']}", json={"name": "a2", "cluster_name": None})
    assert (renamed["name"], renamed["cluster_name"], renamed["status"]) == ("a2", "c1", "ACTIVE")


def test_heartbeat_is_the_agents_own(broker: Broker) -> None:
    agent, pak = broker.create_agent()
    assert broker.request("POST", f"/agents/{agent['id']}/heartbeat", pak).status_code == 204
    assert broker.ok("GET", f"/agents/{agent['id']}")["last_heartbeat"] is not None
    refused = broker.request("POST", f"/agents/{agent['id']}/heartbeat", broker.admin)
    assert refused.status_code == 403 and refused.json()["code"] == "agent_pak_mismatch"


def test_labels_annotations_and_targets(broker: Broker) -> None:
    agent, pak = broker.create_agent()
    aid = agent["id"]
    stack = broker.create_stack(broker.admin_generator_id())
    label = broker.ok("POST", f"/agents/{aid}/labels", json={"agent_id": aid, "label": "edge"})
    assert (label["agent_id"], label["label"]) == (aid, "edge")
    note = broker.ok(
        "POST", f"/agents/{aid}/annotations", json={"agent_id": aid, "key": "tier", "value": "gold"}
    )
    assert (note["key"], note["value"]) == ("tier", "gold")
    target = broker.ok("POST", f"/agents/{aid}/targets", pak, json={"agent_id": aid, "stack_id": stack["id"]})
    assert target["stack_id"] == stack["id"]
    assert [r["label"] for r in broker.ok("GET", f"/agents/{aid}/labels", pak)] == ["edge"]
    assert [r["key"] for r in broker.ok("GET", f"/agents/{aid}/annotations", pak)] == ["tier"]
    assert [r["stack_id"] for r in broker.ok("GET", f"/agents/{aid}/targets", pak)] == [stack["id"]]
    for path in (f"/agents/{aid}/labels/edge", f"/agents/{aid}/annotations/tier"):
        assert broker.request("DELETE", path, broker.admin).status_code == 204
        assert broker.request("DELETE", path, broker.admin).json()["code"].endswith("_not_found")
    assert broker.request("DELETE", f"/agents/{aid}/targets/{stack['id']}", pak).status_code == 204
    gone = broker.request("DELETE", f"/agents/{aid}/targets/{stack['id']}", pak)
    assert gone.status_code == 404 and gone.json()["code"] == "agent_target_not_found"


def test_an_agents_stacks_are_the_union_of_targets_labels_and_annotations(broker: Broker) -> None:
    agent, pak = broker.create_agent()
    aid = agent["id"]
    owner = broker.admin_generator_id()
    by_target, by_label, by_note, unrelated = (broker.create_stack(owner) for _ in range(4))
    broker.ok("POST", f"/agents/{aid}/targets", json={"agent_id": aid, "stack_id": by_target["id"]})
    broker.ok("POST", f"/agents/{aid}/labels", json={"agent_id": aid, "label": "edge"})
    broker.ok("POST", f"/stacks/{by_label['id']}/labels", json="edge")
    broker.ok("POST", f"/agents/{aid}/annotations", json={"agent_id": aid, "key": "tier", "value": "gold"})
    broker.ok("POST", f"/stacks/{by_note['id']}/annotations", json={"key": "tier", "value": "gold"})
    broker.ok("POST", f"/stacks/{unrelated['id']}/annotations", json={"key": "tier", "value": "silver"})
    found = {s["id"] for s in broker.ok("GET", f"/agents/{aid}/stacks", pak)}
    assert found == {by_target["id"], by_label["id"], by_note["id"]}


def test_target_state_is_the_latest_object_per_stack_and_incremental_skips_reported_ones(
    broker: Broker,
) -> None:
    agent, pak = broker.create_agent()
    aid = agent["id"]
    owner = broker.admin_generator_id()
    first, second = broker.create_stack(owner), broker.create_stack(owner)
    for stack in (first, second):
        broker.ok("POST", f"/agents/{aid}/targets", json={"agent_id": aid, "stack_id": stack["id"]})
    broker.create_object(first["id"], name="old")
    newest = broker.create_object(first["id"], name="new")
    other = broker.create_object(second["id"])
    full = broker.ok("GET", f"/agents/{aid}/target-state", pak, params={"mode": "full"})
    assert [o["id"] for o in full] == [other["id"], newest["id"]]  # sequence descending across stacks
    event = {
        "agent_id": aid,
        "deployment_object_id": newest["id"],
        "event_type": "DEPLOY",
        "status": "SUCCESS",
    }
    broker.ok("POST", f"/agents/{aid}/events", pak, json=event)
    assert [o["id"] for o in broker.ok("GET", f"/agents/{aid}/target-state", pak)] == [other["id"]]
    odd_mode = broker.ok("GET", f"/agents/{aid}/target-state", pak, params={"mode": "whatever"})
    assert [o["id"] for o in odd_mode] == [other["id"]]


def test_deleting_a_stack_sends_its_deletion_marker_to_the_agents_that_deployed_it(broker: Broker) -> None:
    agent, pak = broker.create_agent()
    aid = agent["id"]
    stack = broker.create_stack(broker.admin_generator_id())
    broker.ok("POST", f"/agents/{aid}/targets", json={"agent_id": aid, "stack_id": stack["id"]})
    obj = broker.create_object(stack["id"])
    event = {"agent_id": aid, "deployment_object_id": obj["id"], "event_type": "DEPLOY", "status": "SUCCESS"}
    broker.ok("POST", f"/agents/{aid}/events", pak, json=event)
    assert broker.request("DELETE", f"/stacks/{stack['id']}", broker.admin).status_code == 204
    state = broker.ok("GET", f"/agents/{aid}/target-state", pak)
    assert len(state) == 1 and state[0]["is_deletion_marker"] is True and state[0]["stack_id"] == stack["id"]
    assert broker.ok("GET", f"/deployment-objects/{state[0]['id']}", pak)["is_deletion_marker"] is True


def test_events_are_listed_newest_first_and_scoped_to_the_caller(broker: Broker) -> None:
    agent, pak = broker.create_agent()
    _other, other_pak = broker.create_agent()
    stack = broker.create_stack(broker.admin_generator_id())
    obj = broker.create_object(stack["id"])
    sent = []
    for status in ("FAILURE", "SUCCESS"):
        body = {
            "agent_id": agent["id"],
            "deployment_object_id": obj["id"],
            "event_type": "DEPLOY",
            "status": status,
        }
        sent.append(broker.ok("POST", f"/agents/{agent['id']}/events", pak, json=body))
    assert sent[1]["message"] is None and sent[1]["status"] == "SUCCESS"
    listed = broker.ok("GET", f"/agents/{agent['id']}/events", pak)
    assert [e["id"] for e in listed] == [sent[1]["id"], sent[0]["id"]]
    assert {e["id"] for e in broker.ok("GET", "/agent-events")} == {e["id"] for e in sent}
    assert broker.ok("GET", "/agent-events", other_pak) == []
    assert broker.ok("GET", f"/agent-events/{sent[0]['id']}", pak)["status"] == "FAILURE"
    assert broker.request("GET", f"/agent-events/{sent[0]['id']}", other_pak).status_code == 403


def test_rotating_a_key_retires_the_old_one_at_once(broker: Broker) -> None:
    agent, pak = broker.create_agent()
    assert broker.request("POST", "/auth/pak", pak).status_code == 200  # now cached
    rotated = broker.ok("POST", f"/agents/{agent['id']}/rotate-pak", pak)
    assert set(rotated) == {"agent", "pak"} and rotated["pak"] != pak
    assert broker.request("POST", "/auth/pak", pak).status_code == 401
    assert broker.ok("POST", "/auth/pak", rotated["pak"])["agent"] == agent["id"]
    by_admin = broker.ok("POST", f"/agents/{agent['id']}/rotate-pak")
    assert broker.request("POST", "/auth/pak", rotated["pak"]).status_code == 401
    assert broker.request("POST", "/auth/pak", by_admin["pak"]).status_code == 200


def test_deleting_an_agent_revokes_its_key_and_frees_its_name(broker: Broker) -> None:
    agent, pak = broker.create_agent(name="doomed", cluster="c")
    assert broker.request("GET", f"/agents/{agent['id']}", pak).status_code == 200
    assert broker.request("DELETE", f"/agents/{agent['id']}", broker.admin).status_code == 204
    assert broker.request("GET", f"/agents/{agent['id']}", pak).status_code == 401
    assert broker.request("GET", f"/agents/{agent['id']}", broker.admin).status_code == 404
    assert broker.ok("GET", "/agents") == []
    again, _ = broker.create_agent(name="doomed", cluster="c")
    assert again["id"] != agent["id"]
    assert broker.request("DELETE", f"/agents/{agent['id']}", broker.admin).status_code == 204  # idempotent


def test_health_reports_roll_up_per_object_and_per_stack(broker: Broker) -> None:
    owner = broker.admin_generator_id()
    stack = broker.create_stack(owner)
    obj = broker.ok(
        "POST", f"/stacks/{stack['id']}/deployment-objects", json={"yaml_content": CONFIGMAP.format(name="x")}
    )
    reports = []
    for status in ("healthy", "degraded"):
        agent, pak = broker.create_agent()
        summary = {"pods_ready": 1, "pods_total": 2, "conditions": ["CrashLoopBackOff"], "resources": []}
        body = {
            "deployment_objects": [
                {"id": obj["id"], "status": status, "summary": summary, "checked_at": "2024-05-01T10:00:00Z"}
            ]
        }
        response = broker.request("PATCH", f"/agents/{agent['id']}/health-status", pak, json=body)
        assert response.status_code == 200 and response.content == b""
        reports.append(agent["id"])
    health = broker.ok("GET", f"/deployment-objects/{obj['id']}/health")
    assert health["overall_status"] == "degraded"
    assert {r["agent_id"] for r in health["health_records"]} == set(reports)
    assert all(isinstance(r["summary"], str) for r in health["health_records"])  # JSON text, as in the spec
    rollup = broker.ok("GET", f"/stacks/{stack['id']}/health")
    assert rollup["overall_status"] == "degraded"
    assert rollup["deployment_objects"] == [
        {
            "id": obj["id"],
            "status": "degraded",
            "healthy_agents": 1,
            "degraded_agents": 1,
            "failing_agents": 0,
        }
    ]
