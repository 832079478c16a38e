"""Stacks over HTTP: CRUD, labels and annotations, deployment objects, instantiation from templates."""

from __future__ import annotations

import hashlib

from brokerapp_support import CONFIGMAP, Broker


def test_stack_lifecycle(broker: Broker) -> None:
    generator, pak = broker.create_generator()
    response = broker.request(
        "POST", "/stacks", pak, json={"name": "web", "generator_id": generator["id"], "description": "d"}
    )
    assert response.status_code == 201
    stack = response.json()
    assert (stack["name"], stack["description"], stack["generator_id"]) == ("web", "d", generator["id"])
    assert broker.ok("GET", f"/stacks/{stack['id']}", pak) == stack
    renamed = broker.ok("PUT", f"/stacks/{stack['id']}", pak, json={"name": "web2", "description": None})
    assert (renamed["name"], renamed["description"]) == ("web2", None)
    whole = broker.ok("PUT", f"/stacks/{stack['id']}", pak, json={**renamed, "description": "again"})
    assert whole["description"] == "again" and whole["created_at"] == stack["created_at"]
    assert broker.request("DELETE", f"/stacks/{stack['id']}", pak).status_code == 204
    gone = broker.request("GET", f"/stacks/{stack['id']}", pak)
    assert gone.status_code == 404 and gone.json()["code"] == "stack_not_found"
    assert broker.request("DELETE", f"/stacks/{stack['id']}", pak).status_code == 404


def test_deployment_objects_are_sequenced_and_checksummed(broker: Broker) -> None:
    generator, pak = broker.create_generator()
    stack = broker.create_stack(generator["id"], pak)
    yaml_a, yaml_b = CONFIGMAP.format(name="a"), CONFIGMAP.format(name="b")
    first = broker.ok("POST", f"/stacks/{stack['id']}/deployment-objects", pak, json={"yaml_content": yaml_a})
    second = broker.ok(
        "POST",
        f"/stacks/{stack['id']}/deployment-objects",
        pak,
        json={"yaml_content": yaml_b, "is_deletion_marker": False},
    )
    assert second["sequence_id"] > first["sequence_id"]
    assert first["yaml_checksum"] == hashlib.sha256(yaml_a.encode()).hexdigest()
    assert first["is_deletion_marker"] is False and first["yaml_content"] == yaml_a
    listed = broker.ok("GET", f"/stacks/{stack['id']}/deployment-objects", pak)
    assert [o["id"] for o in listed] == [second["id"], first["id"]]
    assert broker.ok("GET", f"/deployment-objects/{first['id']}", pak) == first
    blank = broker.request(
        "POST", f"/stacks/{stack['id']}/deployment-objects", pak, json={"yaml_content": "  "}
    )
    assert blank.status_code == 400 and blank.json()["code"] == "yaml_content_required"


def test_stack_labels_and_annotations(broker: Broker) -> None:
    generator, pak = broker.create_generator()
    sid = broker.create_stack(generator["id"], pak)["id"]
    label = broker.ok("POST", f"/stacks/{sid}/labels", pak, json="prod")
    assert (label["stack_id"], label["label"]) == (sid, "prod")
    note = broker.ok(
        "POST", f"/stacks/{sid}/annotations", pak, json={"stack_id": sid, "key": "team", "value": "core"}
    )
    assert (note["key"], note["value"]) == ("team", "core")
    assert [r["label"] for r in broker.ok("GET", f"/stacks/{sid}/labels", pak)] == ["prod"]
    assert [(r["key"], r["value"]) for r in broker.ok("GET", f"/stacks/{sid}/annotations", pak)] == [
        ("team", "core")
    ]
    for path, code in (
        (f"/stacks/{sid}/labels/prod", "stack_label_not_found"),
        (f"/stacks/{sid}/annotations/team", "stack_annotation_not_found"),
    ):
        assert broker.request("DELETE", path, pak).status_code == 204
        again = broker.request("DELETE", path, pak)
        assert again.status_code == 404 and again.json()["code"] == code


def test_an_associated_agent_reads_the_labels_that_select_it(broker: Broker) -> None:
    owner = broker.admin_generator_id()
    sid = broker.create_stack(owner)["id"]
    broker.ok("POST", f"/stacks/{sid}/labels", json="edge")
    agent, pak = broker.create_agent()
    assert broker.request("GET", f"/stacks/{sid}/labels", pak).status_code == 403
    broker.ok("POST", f"/agents/{agent['id']}/labels", json={"agent_id": agent["id"], "label": "edge"})
    assert [r["label"] for r in broker.ok("GET", f"/stacks/{sid}/labels", pak)] == ["edge"]


def test_instantiating_a_template_renders_validates_and_matches(broker: Broker) -> None:
    generator, pak = broker.create_generator()
    sid = broker.create_stack(generator["id"], pak)["id"]
    template = broker.create_template(pak)
    url = f"/stacks/{sid}/deployment-objects/from-template"
    response = broker.request(
        "POST", url, pak, json={"template_id": template["id"], "parameters": {"name": "web", "replicas": 3}}
    )
    assert response.status_code == 201, response.text
    obj = response.json()
    assert "name: web" in obj["yaml_content"] and "'3'" in obj["yaml_content"]
    assert obj["stack_id"] == sid and obj["is_deletion_marker"] is False
    invalid = broker.request(
        "POST", url, pak, json={"template_id": template["id"], "parameters": {"replicas": 0}}
    )
    assert invalid.status_code == 400 and invalid.json()["code"] == "invalid_parameters"
    assert len(invalid.json()["details"]["validation_errors"]) == 2  # name missing, replicas below 1
    broker.ok("POST", f"/templates/{template['id']}/labels", pak, json="gpu")
    mismatch = broker.request(
        "POST", url, pak, json={"template_id": template["id"], "parameters": {"name": "x"}}
    )
    assert mismatch.status_code == 422 and mismatch.json()["code"] == "template_stack_mismatch"
    assert mismatch.json()["details"]["missing_labels"] == ["gpu"]
    broker.ok("POST", f"/stacks/{sid}/labels", pak, json="gpu")
    ok = {"template_id": template["id"], "parameters": {"name": "x", "replicas": 1}}
    assert broker.request("POST", url, pak, json=ok).status_code == 201


def test_a_template_that_cannot_render_is_400(broker: Broker) -> None:
    sid = broker.create_stack(broker.admin_generator_id())["id"]
    body = {"name": "undefined-var", "template_content": "value: {{ nothere }}", "parameters_schema": "{}"}
    template = broker.ok("POST", "/templates", json=body, status=201)
    response = broker.request(
        "POST",
        f"/stacks/{sid}/deployment-objects/from-template",
        broker.admin,
        json={"template_id": template["id"], "parameters": {}},
    )
    assert response.status_code == 400 and response.json()["code"] == "template_render_failed"
