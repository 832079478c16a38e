"""Label and field selectors: parser properties, and every operator through LIST requests."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.rest import ApiException

from brokkr_adapters_k8s.testing import FakeApiServer
from brokkr_adapters_k8s.testing.fake_apiserver.selectors import (
    SelectorError,
    fields_match,
    labels_match,
    parse_field_selector,
    parse_label_selector,
)

KEYS = st.sampled_from(["app", "tier", "example.com/team"])
VALUES = st.sampled_from(["web", "db", "x-1", ""])
LABELS = st.dictionaries(KEYS, VALUES, max_size=3)


@given(LABELS, KEYS, VALUES)
def test_equality_and_inequality_are_complements(labels: dict[str, str], key: str, value: str) -> None:
    equal = labels_match(parse_label_selector(f"{key}={value}"), labels)
    assert equal == (labels.get(key) == value and key in labels)
    assert labels_match(parse_label_selector(f"{key}=={value}"), labels) == equal
    assert labels_match(parse_label_selector(f"{key}!={value}"), labels) == (not equal)


@given(LABELS, KEYS, st.lists(st.sampled_from(["web", "db", "x-1"]), min_size=1, max_size=3))
def test_in_and_notin_are_complements(labels: dict[str, str], key: str, values: list[str]) -> None:
    inside = labels_match(parse_label_selector(f"{key} in ({','.join(values)})"), labels)
    assert inside == (key in labels and labels[key] in values)
    assert labels_match(parse_label_selector(f"{key} notin ({', '.join(values)})"), labels) == (not inside)


@given(LABELS, KEYS)
def test_exists_and_not_exists_are_complements(labels: dict[str, str], key: str) -> None:
    assert labels_match(parse_label_selector(key), labels) == (key in labels)
    assert labels_match(parse_label_selector(f"!{key}"), labels) == (key not in labels)


@given(LABELS, st.lists(st.tuples(KEYS, VALUES), min_size=1, max_size=3))
def test_requirements_are_anded(labels: dict[str, str], pairs: list[tuple[str, str]]) -> None:
    selector = ",".join(f"{k}={v}" for k, v in pairs)
    expected = all(k in labels and labels[k] == v for k, v in pairs)
    assert labels_match(parse_label_selector(selector), labels) == expected


def test_empty_selector_matches_everything_and_integer_comparisons_work() -> None:
    assert labels_match(parse_label_selector(""), {})
    assert labels_match(parse_label_selector("rank>2"), {"rank": "3"})
    assert not labels_match(parse_label_selector("rank>2"), {"rank": "two"})
    assert labels_match(parse_label_selector("rank<2"), {"rank": "1"})


@pytest.mark.parametrize(
    "bad", ["a in", "a in ()", "a=(", "!", "bad key=1", "a=b c", "a notin x", "a=b=c", "k=" + "v" * 64]
)
def test_malformed_label_selectors_are_errors(bad: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(bad)


def test_field_selectors_parse_escapes_and_negation() -> None:
    reqs = parse_field_selector(r"metadata.name=a\,b,status.phase!=Running")
    assert [(r.path, r.negate, r.value) for r in reqs] == [
        ("metadata.name", False, "a,b"),
        ("status.phase", True, "Running"),
    ]
    pod = {"metadata": {"name": "a,b"}, "status": {"phase": "Pending"}}
    assert fields_match(reqs, pod)
    assert not fields_match(parse_field_selector("status.phase==Pending,spec.nodeName=x"), pod)
    with pytest.raises(SelectorError):
        parse_field_selector("nonsense")


@pytest.fixture
def srv() -> Iterator[FakeApiServer]:
    with FakeApiServer.running() as server:
        for ns in ("team-a", "team-b"):
            server.state.apply_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        labels = {
            ("team-a", "web"): {"app": "web", "tier": "front"},
            ("team-a", "db"): {"app": "db", "tier": "back"},
            ("team-a", "bare"): {},
            ("team-b", "web"): {"app": "web", "tier": "front", "canary": "true"},
        }
        for (ns, name), lbls in labels.items():
            server.state.apply_object(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": ns, "labels": lbls},
                }
            )
        yield server


def names(items: list[client.V1ConfigMap]) -> list[str]:
    return [f"{i.metadata.namespace}/{i.metadata.name}" for i in items]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["team-a/web", "team-b/web"]),
        ("app==db", ["team-a/db"]),
        ("app!=web", ["team-a/bare", "team-a/db"]),
        ("tier in (front,back)", ["team-a/db", "team-a/web", "team-b/web"]),
        ("tier notin (front)", ["team-a/bare", "team-a/db"]),
        ("canary", ["team-b/web"]),
        ("!app", ["team-a/bare"]),
        ("app=web,!canary", ["team-a/web"]),
    ],
)
def test_label_selector_operators_across_namespaces(
    srv: FakeApiServer, selector: str, expected: list[str]
) -> None:
    core = client.CoreV1Api(srv.api_client())
    listing = core.list_config_map_for_all_namespaces(label_selector=selector)
    assert names(listing.items) == expected


def test_field_selectors_on_names_and_namespaces(srv: FakeApiServer) -> None:
    core = client.CoreV1Api(srv.api_client())
    assert names(core.list_config_map_for_all_namespaces(field_selector="metadata.name=web").items) == [
        "team-a/web",
        "team-b/web",
    ]
    assert names(
        core.list_config_map_for_all_namespaces(field_selector="metadata.namespace!=team-a").items
    ) == ["team-b/web"]
    assert names(
        core.list_namespaced_config_map(
            "team-a", field_selector="metadata.name=db", label_selector="app"
        ).items
    ) == ["team-a/db"]
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map("team-a", field_selector="data.key=1")
    assert err.value.status == 400
    assert json.loads(err.value.body)["message"] == "field label not supported: data.key"
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map("team-a", label_selector="a in (")
    assert err.value.status == 400 and json.loads(err.value.body)["reason"] == "BadRequest"


def test_pod_phase_and_event_involved_object_field_selectors(srv: FakeApiServer) -> None:
    state = srv.state
    running = state.put_pod("team-a", "api-1", phase="Running")
    state.put_pod("team-a", "api-2", phase="Pending")
    state.put_pod("team-b", "job-1", phase="Succeeded")
    state.add_event("team-a", running, "Started", "Started container app")
    state.add_event(
        "team-a",
        {"kind": "Deployment", "name": "api", "apiVersion": "apps/v1"},
        "ScalingReplicaSet",
        "Scaled up",
    )
    core = client.CoreV1Api(srv.api_client())
    assert [
        p.metadata.name for p in core.list_pod_for_all_namespaces(field_selector="status.phase=Running").items
    ] == ["api-1"]
    assert [
        p.metadata.name
        for p in core.list_namespaced_pod("team-a", field_selector="status.phase!=Running").items
    ] == ["api-2"]
    by_name = core.list_namespaced_event("team-a", field_selector="involvedObject.name=api-1")
    assert [e.reason for e in by_name.items] == ["Started"]
    by_kind = core.list_namespaced_event(
        "team-a", field_selector="involvedObject.kind=Deployment,involvedObject.namespace=team-a"
    )
    assert [e.message for e in by_kind.items] == ["Scaled up"]


def test_list_shape_and_pagination(srv: FakeApiServer) -> None:
    api = srv.api_client()
    response = api.call_api("GET", f"{srv.url}/api/v1/configmaps?limit=2")
    response.read()
    page = json.loads(response.data)
    assert page["kind"] == "ConfigMapList" and page["apiVersion"] == "v1"
    assert page["metadata"]["remainingItemCount"] == 2 and page["metadata"]["resourceVersion"]
    # Like the real server, items of built-in lists carry no apiVersion/kind.
    assert "kind" not in page["items"][0]
    core = client.CoreV1Api(api)
    rest = core.list_config_map_for_all_namespaces(limit=2, _continue=page["metadata"]["continue"])
    assert names(rest.items) == ["team-a/web", "team-b/web"]
    assert rest.metadata._continue is None


def test_list_items_can_carry_type_meta_when_asked() -> None:
    with FakeApiServer.running(list_items_with_type_meta=True) as server:
        response = server.api_client().call_api("GET", f"{server.url}/api/v1/namespaces")
        response.read()
        item = json.loads(response.data)["items"][0]
        assert (item["apiVersion"], item["kind"]) == ("v1", "Namespace")
