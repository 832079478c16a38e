"""Manifest rules: multi-document parsing, precise errors, bounds and apply order."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import string
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from brokkr_domain.errors import ValidationError
from brokkr_domain.manifests import (
    MAX_DOCUMENTS,
    MAX_MANIFEST_BYTES,
    KubeObject,
    ObjectRef,
    is_cluster_scoped_kind_hint,
    is_crd,
    is_namespace,
    order_for_apply,
    parse_manifests,
)

DNS = string.ascii_lowercase + string.digits
names = st.text(alphabet=DNS, min_size=1, max_size=12)
scalars = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
KINDS = [
    ("v1", "Namespace"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ("v1", "ConfigMap"),
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("example.com/v1alpha1", "Widget"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
]


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    api_version, kind = draw(st.sampled_from(KINDS))
    metadata: dict[str, Any] = {"name": draw(names)}
    if draw(st.booleans()):
        metadata["namespace"] = draw(names)
    if draw(st.booleans()):
        metadata["labels"] = draw(st.dictionaries(names, st.text(max_size=10), max_size=3))
    if draw(st.booleans()):
        metadata["annotations"] = draw(
            st.dictionaries(st.text(min_size=1, max_size=10), st.text(), max_size=3)
        )
    body: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    if draw(st.booleans()):
        body["spec"] = draw(st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=3))
    return body


def dump(docs: list[Any]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def obj(kind: str, name: str, api_version: str = "v1", namespace: str | None = None) -> KubeObject:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    body = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    return KubeObject(api_version=api_version, kind=kind, name=name, namespace=namespace, body=body)


@given(st.lists(st.one_of(manifests(), st.none()), max_size=6))
def test_round_trip_of_generated_objects(docs: list[dict[str, Any] | None]) -> None:
    parsed = parse_manifests(dump(docs))
    expected = [doc for doc in docs if doc is not None]
    assert [o.body for o in parsed] == expected
    for o, doc in zip(parsed, expected, strict=True):
        assert o.api_version == doc["apiVersion"]
        assert o.kind == doc["kind"]
        assert o.name == doc["metadata"]["name"]
        assert o.namespace == (doc["metadata"].get("namespace") or None)
        assert o.ref == ObjectRef(o.api_version, o.kind, o.namespace, o.name)
        json.dumps(o.body)


@pytest.mark.parametrize("text", ["", "   \n", "---\n", "---\n---\n", "# just a comment\n", "~\n---\nnull\n"])
def test_empty_documents_give_no_objects(text: str) -> None:
    assert parse_manifests(text) == []


INVALID_DOCS: list[tuple[Any, str]] = [
    (["a", "list"], "expected a mapping (a Kubernetes object), got a list"),
    ("just a string", "expected a mapping (a Kubernetes object), got a string"),
    (42, "got a number"),
    ({"kind": "ConfigMap", "metadata": {"name": "x"}}, "missing apiVersion"),
    ({"apiVersion": "v1", "metadata": {"name": "x"}}, "missing kind"),
    (
        {"apiVersion": 1, "kind": "ConfigMap", "metadata": {"name": "x"}},
        "apiVersion must be a non-empty string",
    ),
    ({"apiVersion": "v1", "kind": "", "metadata": {"name": "x"}}, "kind must be a non-empty string"),
    ({"apiVersion": "v1", "kind": "ConfigMap"}, "ConfigMap has no metadata"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": []}, "metadata must be a mapping"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, "ConfigMap: missing metadata.name"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": 7}}, "metadata.name must be a non-empty"),
    (
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": 3}},
        "ConfigMap 'x': metadata.namespace must be a string",
    ),
    (
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {"on": True}}},
        "metadata.labels.on must be a string, got a boolean",
    ),
    (
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "annotations": ["a"]}},
        "metadata.annotations must be a mapping",
    ),
]


@given(
    st.lists(manifests(), max_size=3),
    st.lists(manifests(), max_size=3),
    st.sampled_from(INVALID_DOCS),
    st.integers(min_value=0, max_value=2),
)
def test_errors_name_the_document_number(
    before: list[Any], after: list[Any], invalid: tuple[Any, str], empties: int
) -> None:
    bad, reason = invalid
    docs = [None] * empties + before + [bad] + after
    with pytest.raises(ValidationError) as caught:
        parse_manifests(dump(docs))
    number = empties + len(before) + 1
    assert caught.value.message.startswith(f"document {number}: ")
    assert reason in caught.value.message
    assert caught.value.code == "invalid_request"


def test_yaml_syntax_error_names_document_and_line() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: [oops\n"
    with pytest.raises(ValidationError) as caught:
        parse_manifests(text)
    assert caught.value.message.startswith("document 2: invalid YAML at line ")
    assert "line 7" in caught.value.message or "line 6" in caught.value.message


def test_timestamps_stay_strings_and_numeric_keys_become_strings() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
        "data:\n  day: 2024-01-01\n  80: http\n  true: x\n"
    )
    (parsed,) = parse_manifests(text)
    assert parsed.body["data"] == {"day": "2024-01-01", "80": "http", "true": "x"}


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (b"bytes", "unsupported value of type bytes"),
        ({1, 2}, "unsupported value of type set"),
        (float("nan"), "is not a number Kubernetes accepts"),
    ],
)
def test_non_json_values_are_refused_with_their_path(value: object, fragment: str) -> None:
    text = yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": value}}
    )
    with pytest.raises(ValidationError) as caught:
        parse_manifests(text)
    assert caught.value.message.startswith("document 1: data.k: ")
    assert fragment in caught.value.message


def test_explicit_timestamp_tag_is_refused() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: !!timestamp 2024-01-01}\n"
    with pytest.raises(ValidationError, match=r"^document 1: data.k: unsupported value of type date"):
        parse_manifests(text)
    implicit = yaml.safe_dump(
        {"apiVersion": "v1", "kind": "C", "metadata": {"name": "a"}, "k": dt.date(2024, 1, 1)}
    )
    assert parse_manifests(implicit)[0].body["k"] == "2024-01-01"


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    with pytest.raises(ValidationError, match="too many nodes"):
        parse_manifests("\n".join(lines))


def test_aliases_within_reason_are_expanded_and_unshared() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: &l {app: web}}\n"
        "data: {copy: x}\nspec: {selector: *l}\n"
    )
    (parsed,) = parse_manifests(text)
    assert parsed.body["spec"]["selector"] == {"app": "web"}
    assert parsed.body["spec"]["selector"] is not parsed.body["metadata"]["labels"]


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(ValidationError, match="document 1"):
        parse_manifests("a: " + "[" * 5000 + "]" * 5000)
    nested = "apiVersion: v1\nkind: X\nmetadata: {name: a}\nspec: " + "[" * 300 + "]" * 300
    with pytest.raises(ValidationError, match="nested deeper than"):
        parse_manifests(nested)


def test_size_and_document_bounds() -> None:
    with pytest.raises(ValidationError, match="too large"):
        parse_manifests("#" * (MAX_MANIFEST_BYTES + 1))
    with pytest.raises(ValidationError, match="too many YAML documents"):
        parse_manifests("---\n" * (MAX_DOCUMENTS + 2))


def test_lists_are_expanded_with_item_numbers_in_errors() -> None:
    items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}]
    text = dump([{"apiVersion": "v1", "kind": "List", "items": [*items, {"apiVersion": "v1", "kind": "X"}]}])
    with pytest.raises(ValidationError, match=r"^document 1, item 2: X has no metadata"):
        parse_manifests(text)
    typed = dump([{"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {}, "items": items * 2}])
    assert [o.name for o in parse_manifests(typed)] == ["n", "n"]


def test_a_named_object_whose_kind_ends_in_list_is_not_expanded() -> None:
    doc = {"apiVersion": "x.io/v1", "kind": "AccessList", "metadata": {"name": "a"}, "items": [1, 2]}
    (parsed,) = parse_manifests(dump([doc]))
    assert parsed.kind == "AccessList"


def test_from_manifest_copies_and_validates() -> None:
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prod"},
    }
    built = KubeObject.from_manifest(body)
    assert built.ref == ObjectRef("apps/v1", "Deployment", "prod", "web")
    body["metadata"]["name"] = "changed"
    assert built.name == "web"
    assert built.body["metadata"]["name"] == "web"
    with pytest.raises(ValidationError, match="missing kind"):
        KubeObject.from_manifest({"apiVersion": "v1", "metadata": {"name": "a"}})


def test_object_ref_parts_and_string_form() -> None:
    core = ObjectRef("v1", "ConfigMap", "prod", "cfg")
    assert (core.group, core.version, str(core)) == ("", "v1", "ConfigMap/prod/cfg")
    apps = ObjectRef("apps/v1", "Deployment", None, "web")
    assert (apps.group, apps.version, str(apps)) == ("apps", "v1", "Deployment/web")
    assert apps.key == ("apps", "Deployment", None, "web")
    assert ObjectRef("apps/v1beta1", "Deployment", None, "web").key == apps.key
    assert len({core, ObjectRef("v1", "ConfigMap", "prod", "cfg")}) == 1


def test_cluster_scoped_hints() -> None:
    for kind in (
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "PersistentVolume",
    ):
        assert is_cluster_scoped_kind_hint(kind)
    for kind in ("ConfigMap", "Deployment", "Role", "PersistentVolumeClaim", "Widget"):
        assert not is_cluster_scoped_kind_hint(kind)


def test_namespace_and_crd_need_the_right_group() -> None:
    assert is_namespace(obj("Namespace", "a"))
    assert not is_namespace(obj("Namespace", "a", api_version="example.com/v1"))
    assert is_crd(obj("CustomResourceDefinition", "w", api_version="apiextensions.k8s.io/v1"))
    assert not is_crd(obj("CustomResourceDefinition", "w", api_version="example.com/v1"))


def _rank(o: KubeObject) -> int:
    return 0 if is_namespace(o) else 1 if is_crd(o) else 2


@given(st.lists(st.sampled_from(KINDS), max_size=12))
def test_order_for_apply_is_a_stable_partition(kinds: list[tuple[str, str]]) -> None:
    objs = [obj(kind, f"o{i}", api_version=api) for i, (api, kind) in enumerate(kinds)]
    ordered = order_for_apply(objs)
    assert sorted(o.name for o in ordered) == sorted(o.name for o in objs)
    assert [_rank(o) for o in ordered] == sorted(_rank(o) for o in objs)
    for rank in (0, 1, 2):
        assert [o for o in ordered if _rank(o) == rank] == [o for o in objs if _rank(o) == rank]


def test_order_for_apply_example() -> None:
    objs = [
        obj("ConfigMap", "cm", namespace="a"),
        obj("Namespace", "a"),
        obj("CustomResourceDefinition", "w", api_version="apiextensions.k8s.io/v1"),
        obj("Namespace", "b"),
    ]
    assert [o.name for o in order_for_apply(objs)] == ["a", "b", "w", "cm"]


@given(st.text(max_size=300))
def test_random_text_parses_or_raises_validation_error(text: str) -> None:
    try:
        objects = parse_manifests(text)
    except ValidationError as exc:
        assert exc.message.startswith(("document ", "too many", "YAML content"))
        return
    for o in objects:
        json.dumps(o.body)


@given(
    st.lists(st.recursive(scalars | st.binary(max_size=3) | st.dates(), lambda c: st.lists(c, max_size=3)))
)
def test_arbitrary_yaml_values_never_escape_as_other_errors(values: list[Any]) -> None:
    with contextlib.suppress(ValidationError):
        parse_manifests(yaml.safe_dump_all(values))
