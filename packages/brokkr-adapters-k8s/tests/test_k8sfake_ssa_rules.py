"""Properties of the field-ownership and patch rules behind the fake's apply (no HTTP)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokkr_adapters_k8s.testing.fake_apiserver.errors import ApiError
from brokkr_adapters_k8s.testing.fake_apiserver.fieldsets import (
    fieldset,
    from_fields_v1,
    path_to_string,
    to_fields_v1,
    trim,
)
from brokkr_adapters_k8s.testing.fake_apiserver.patches import json_patch, merge_patch, strategic_merge_patch
from brokkr_adapters_k8s.testing.fake_apiserver.ssa import ManagedEntry, apply, record_update

NOW = "2025-01-01T00:00:00Z"
SCALARS = st.one_of(st.integers(-3, 3), st.sampled_from(["a", "b", ""]), st.booleans())
KEYS = st.sampled_from(["x", "y", "z"])


def _named_list(children: st.SearchStrategy[Any]) -> st.SearchStrategy[list[dict[str, Any]]]:
    item = st.fixed_dictionaries(
        {"name": st.sampled_from(["n1", "n2", "n3"])}, optional={"v": children, "w": SCALARS}
    )
    return st.lists(item, min_size=1, max_size=3, unique_by=lambda i: i["name"])


VALUES = st.recursive(
    SCALARS | st.lists(SCALARS, max_size=2),
    lambda children: st.dictionaries(KEYS, children, max_size=3) | _named_list(children),
    max_leaves=8,
)
CONFIGS = st.dictionaries(KEYS, VALUES, max_size=3).map(
    lambda spec: {"metadata": {"name": "o"}, "spec": spec}
)


def run_apply(
    live: dict[str, Any], managed: list[ManagedEntry], cfg: dict[str, Any], manager: str, force: bool = False
) -> tuple[dict[str, Any], list[ManagedEntry]]:
    return apply(live, managed, cfg, manager=manager, api_version="v1", force=force, now=NOW)


@given(CONFIGS)
def test_fields_v1_round_trips(cfg: dict[str, Any]) -> None:
    paths = fieldset(trim(cfg))
    assert from_fields_v1(to_fields_v1(paths)) == paths


@given(CONFIGS, CONFIGS)
def test_a_sole_manager_ends_with_exactly_its_latest_config(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    live, managed = run_apply({"metadata": {"name": "o"}}, [], first, "m")
    live, managed = run_apply(live, managed, second, "m")
    assert trim(live) == trim(second)
    assert [e.manager for e in managed] == (["m"] if fieldset(trim(second)) else [])


@given(CONFIGS)
def test_apply_is_idempotent(cfg: dict[str, Any]) -> None:
    once, managed_once = run_apply({"metadata": {"name": "o"}}, [], cfg, "m")
    twice, managed_twice = run_apply(once, managed_once, cfg, "m")
    assert twice == once
    assert [(e.manager, e.fields) for e in managed_twice] == [(e.manager, e.fields) for e in managed_once]


@given(CONFIGS, CONFIGS)
def test_other_managers_fields_are_never_removed(mine: dict[str, Any], theirs: dict[str, Any]) -> None:
    live, managed = run_apply({"metadata": {"name": "o"}}, [], theirs, "them")
    live, managed = run_apply(live, managed, mine, "me", force=True)
    live, managed = run_apply(live, managed, {"metadata": {"name": "o"}}, "me")
    for entry in managed:
        assert entry.manager == "them"
    owned = set().union(*(e.fields for e in managed))
    assert owned <= fieldset(trim(live))


def test_conflicts_name_each_contested_field() -> None:
    live, managed = run_apply({}, [], {"spec": {"a": 1, "b": 2, "c": 3}}, "owner")
    with pytest.raises(ApiError) as err:
        run_apply(live, managed, {"spec": {"a": 9, "b": 9, "c": 3}}, "rival")
    assert err.value.code == 409
    assert [c["field"] for c in err.value.details["causes"]] == [".spec.a", ".spec.b"]  # type: ignore[index]
    assert err.value.message.startswith('Apply failed with 2 conflicts: conflicts with "owner" using v1:')
    forced, forced_managed = run_apply(live, managed, {"spec": {"a": 9, "b": 9, "c": 3}}, "rival", force=True)
    owners = {e.manager: e.fields for e in forced_managed}
    assert owners["owner"] == {("f:spec", "f:c")}
    assert owners["rival"] == {("f:spec", "f:a"), ("f:spec", "f:b"), ("f:spec", "f:c")}
    assert forced["spec"] == {"a": 9, "b": 9, "c": 3}


def test_named_lists_are_associative_in_field_sets_and_messages() -> None:
    cfg = {"spec": {"containers": [{"name": "app", "image": "x"}]}}
    paths = fieldset(trim(cfg))
    item = ("f:spec", "f:containers", 'k:{"name":"app"}')
    assert paths == {item, (*item, "f:name"), (*item, "f:image")}
    assert to_fields_v1(paths) == {
        "f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}, "f:name": {}}}}
    }
    assert path_to_string((*item, "f:image")) == '.spec.containers[name="app"].image'


@given(CONFIGS, CONFIGS)
def test_updates_leave_no_stale_ownership(old: dict[str, Any], new: dict[str, Any]) -> None:
    managed = record_update(None, [], old, manager="creator", api_version="v1", now=NOW)
    managed = record_update(old, managed, new, manager="editor", api_version="v1", now=NOW)
    owned = set().union(*(e.fields for e in managed))
    assert owned <= fieldset(trim(new))
    editor = next((e.fields for e in managed if e.manager == "editor"), set())
    creator = next((e.fields for e in managed if e.manager == "creator"), set())
    assert not editor & creator


@given(st.dictionaries(KEYS, VALUES, max_size=3), st.dictionaries(KEYS, VALUES, max_size=3))
def test_merge_patch_without_nulls_is_a_right_biased_deep_merge(
    target: dict[str, Any], patch: dict[str, Any]
) -> None:
    merged = merge_patch(target, patch)
    for key, value in patch.items():
        if isinstance(value, dict):
            assert merge_patch(target.get(key), value) == merged[key]
        else:
            assert merged[key] == value
    assert merge_patch(merged, patch) == merged
    assert {k: v for k, v in merged.items() if k not in patch} == {
        k: v for k, v in target.items() if k not in patch
    }


def test_merge_patch_null_deletes_and_strategic_merges_named_lists() -> None:
    assert merge_patch({"a": 1, "b": {"c": 2}}, {"a": None, "b": {"c": None}}) == {"b": {}}
    target = {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}
    patched = strategic_merge_patch(
        target,
        {
            "containers": [
                {"name": "b", "image": "3"},
                {"name": "c", "image": "4"},
                {"name": "a", "$patch": "delete"},
            ]
        },
    )
    assert patched == {"containers": [{"name": "b", "image": "3"}, {"name": "c", "image": "4"}]}
    assert merge_patch(target, {"containers": [{"name": "z"}]}) == {"containers": [{"name": "z"}]}


def test_json_patch_operations() -> None:
    doc = {"a": {"b": [1, 2]}, "c": "x"}
    original = copy.deepcopy(doc)
    result = json_patch(
        doc,
        [
            {"op": "add", "path": "/a/b/1", "value": 9},
            {"op": "replace", "path": "/c", "value": "y"},
            {"op": "copy", "from": "/c", "path": "/d"},
            {"op": "move", "from": "/a/b", "path": "/e"},
            {"op": "test", "path": "/e", "value": [1, 9, 2]},
            {"op": "add", "path": "/e/-", "value": 3},
            {"op": "add", "path": "/k~1s", "value": True},
        ],
    )
    assert result == {"a": {}, "c": "y", "d": "y", "e": [1, 9, 2, 3], "k/s": True}
    assert doc == original
    for bad in (
        [{"op": "test", "path": "/c", "value": "nope"}],
        [{"op": "replace", "path": "/missing", "value": 1}],
        [{"op": "remove", "path": "/a/zzz"}],
        [{"op": "frobnicate", "path": "/a"}],
    ):
        with pytest.raises(ApiError) as err:
            json_patch(doc, bad)
        assert err.value.code == 422
