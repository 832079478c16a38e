"""Templates over HTTP: system and owned templates, versions, labels and annotations."""

from __future__ import annotations

from brokerapp_support import TEMPLATE, TEMPLATE_SCHEMA, Broker


def test_the_admin_creates_system_templates_and_generators_own_theirs(broker: Broker) -> None:
    system = broker.create_template(name="base")
    assert (system["version"], system["generator_id"]) == (1, None)
    generator, pak = broker.create_generator()
    owned = broker.create_template(pak, name="base")
    assert (owned["version"], owned["generator_id"]) == (1, generator["id"])
    assert owned["template_content"] == TEMPLATE and owned["parameters_schema"] == TEMPLATE_SCHEMA
    assert len(owned["checksum"]) == 64
    _, other_pak = broker.create_generator()
    theirs = broker.create_template(other_pak)
    assert {t["id"] for t in broker.ok("GET", "/templates", pak)} == {system["id"], owned["id"]}
    assert len(broker.ok("GET", "/templates")) == 3
    assert broker.ok("GET", f"/templates/{system['id']}", pak)["id"] == system["id"]
    refused = broker.request("GET", f"/templates/{theirs['id']}", pak)
    assert refused.status_code == 403 and refused.json()["code"] == "template_not_accessible"
    denied = broker.request(
        "PUT", f"/templates/{system['id']}", pak, json={"template_content": "x", "parameters_schema": "{}"}
    )
    assert denied.status_code == 403 and denied.json()["code"] == "template_not_owned"


def test_an_update_is_a_new_version_and_the_old_one_stays(broker: Broker) -> None:
    v1 = broker.create_template(name="web", pak=None)
    v2 = broker.ok(
        "PUT",
        f"/templates/{v1['id']}",
        json={"template_content": "a: {{ name }}", "parameters_schema": "{}", "description": "second"},
    )
    assert v2["id"] != v1["id"] and (v2["version"], v2["name"], v2["description"]) == (2, "web", "second")
    assert broker.ok("GET", f"/templates/{v1['id']}")["version"] == 1
    assert broker.request("DELETE", f"/templates/{v2['id']}", broker.admin).status_code == 204
    assert broker.request("GET", f"/templates/{v2['id']}", broker.admin).status_code == 404
    assert broker.create_template(name="web")["version"] == 2  # the deleted version's number is free again


def test_invalid_templates_are_400(broker: Broker) -> None:
    cases = {
        "invalid_template_syntax": {"template_content": "{{ x", "parameters_schema": "{}"},
        "invalid_parameters_schema": {"template_content": "x", "parameters_schema": "not json"},
    }
    for code, body in cases.items():
        response = broker.request("POST", "/templates", broker.admin, json={"name": "t", **body})
        assert response.status_code == 400 and response.json()["code"] == code, response.text
    uncompilable = {"name": "t", "template_content": "x", "parameters_schema": '{"type": 12}'}
    response = broker.request("POST", "/templates", broker.admin, json=uncompilable)
    assert response.status_code == 400 and response.json()["code"] == "invalid_parameters_schema"


def test_template_labels_and_annotations(broker: Broker) -> None:
    _generator, pak = broker.create_generator()
    tid = broker.create_template(pak)["id"]
    label = broker.ok("POST", f"/templates/{tid}/labels", pak, json="web")
    assert (label["template_id"], label["label"]) == (tid, "web")
    note = broker.ok("POST", f"/templates/{tid}/annotations", pak, json={"key": "tier", "value": "gold"})
    assert (note["key"], note["value"]) == ("tier", "gold")
    assert [r["label"] for r in broker.ok("GET", f"/templates/{tid}/labels", pak)] == ["web"]
    assert [r["key"] for r in broker.ok("GET", f"/templates/{tid}/annotations", pak)] == ["tier"]
    bad = broker.request("POST", f"/templates/{tid}/annotations", pak, json={"key": "bad key", "value": "v"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_annotation"
    for path, code in (
        (f"/templates/{tid}/labels/web", "template_label_not_found"),
        (f"/templates/{tid}/annotations/tier", "template_annotation_not_found"),
    ):
        assert broker.request("DELETE", path, pak).status_code == 204
        again = broker.request("DELETE", path, pak)
        assert again.status_code == 404 and again.json()["code"] == code
