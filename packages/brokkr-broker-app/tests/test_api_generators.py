"""Generators over HTTP: CI identities that own stacks and templates."""

from __future__ import annotations

from brokerapp_support import Broker


def test_creating_a_generator_answers_201_with_its_key(broker: Broker) -> None:
    response = broker.request(
        "POST", "/generators", broker.admin, json={"name": "ci", "description": "pipelines"}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"generator", "pak"}
    generator = body["generator"]
    assert (generator["name"], generator["description"], generator["is_active"]) == ("ci", "pipelines", True)
    assert "pak_hash" not in generator
    assert broker.ok("POST", "/auth/pak", body["pak"]) == {
        "admin": False,
        "agent": None,
        "generator": generator["id"],
    }
    names = {g["name"] for g in broker.ok("GET", "/generators")}
    assert names == {"ci", "admin-generator"}


def test_a_generator_manages_itself(broker: Broker) -> None:
    generator, pak = broker.create_generator(name="self")
    gid = generator["id"]
    assert broker.ok("GET", f"/generators/{gid}", pak)["name"] == "self"
    updated = broker.ok("PUT", f"/generators/{gid}", pak, json={"description": "new", "is_active": False})
    assert (updated["description"], updated["is_active"], updated["name"]) == ("new", False, "self")
    same_shape = {**updated, "description": "whole object sent back"}
    assert (
        broker.ok("PUT", f"/generators/{gid}", pak, json=same_shape)["description"]
        == "whole object sent back"
    )
    rotated = broker.ok("POST", f"/generators/{gid}/rotate-pak", pak)
    assert set(rotated) == {"generator", "pak"}
    assert broker.request("GET", f"/generators/{gid}", pak).status_code == 401
    assert broker.request("GET", f"/generators/{gid}", rotated["pak"]).status_code == 200


def test_deleting_a_generator_revokes_it_and_deletes_its_stacks(broker: Broker) -> None:
    generator, pak = broker.create_generator(name="gone")
    stack = broker.create_stack(generator["id"], pak)
    assert broker.request("POST", "/auth/pak", pak).status_code == 200  # cached now
    assert broker.request("DELETE", f"/generators/{generator['id']}", pak).status_code == 204
    assert broker.request("POST", "/auth/pak", pak).status_code == 401
    assert broker.request("GET", f"/stacks/{stack['id']}", broker.admin).status_code == 404
    assert broker.request("GET", f"/generators/{generator['id']}", broker.admin).status_code == 404
    again, _ = broker.create_generator(name="gone")
    assert again["id"] != generator["id"]


def test_a_generator_sees_only_its_own_stacks(broker: Broker) -> None:
    mine, pak = broker.create_generator()
    theirs, their_pak = broker.create_generator()
    own = broker.create_stack(mine["id"], pak)
    broker.create_stack(theirs["id"], their_pak)
    assert [s["id"] for s in broker.ok("GET", "/stacks", pak)] == [own["id"]]
    assert len(broker.ok("GET", "/stacks")) == 2
    refused = broker.request("POST", "/stacks", pak, json={"name": "x", "generator_id": theirs["id"]})
    assert refused.status_code == 403 and refused.json()["code"] == "stack_generator_mismatch"
    moved = broker.request("PUT", f"/stacks/{own['id']}", pak, json={"generator_id": theirs["id"]})
    assert moved.status_code == 403
    assert (
        broker.ok("PUT", f"/stacks/{own['id']}", json={"generator_id": theirs["id"]})["generator_id"]
        == theirs["id"]
    )
