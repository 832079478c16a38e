"""Ownership rules: marks that keep user metadata, and which live objects the agent may delete."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokkr_domain.errors import ValidationError
from brokkr_domain.manifests import KubeObject, ObjectRef
from brokkr_domain.ownership import (
    CHECKSUM_ANNOTATION,
    CREATED_NAMESPACE_ANNOTATION,
    DEPLOYMENT_OBJECT_ANNOTATION,
    MANAGED_BY_LABEL,
    OWNER_ANNOTATION,
    STACK_ANNOTATION,
    STACK_LABEL,
    OwnershipMarks,
    checksum_of,
    deletion_set,
    has_owner_references,
    is_owned_by,
    mark,
    namespace_created_by_us,
    prune_set,
    ref_of,
    stack_of,
    stack_selector,
)

STACK = uuid.UUID(int=1)
OTHER_STACK = uuid.UUID(int=2)
AGENT = uuid.UUID(int=10)
OTHER_AGENT = uuid.UUID(int=11)
MARKS = OwnershipMarks(stack_id=STACK, checksum="c1", deployment_object_id=uuid.UUID(int=5), owner_id=AGENT)

texts = st.text(max_size=8)
user_maps = st.dictionaries(
    st.sampled_from(
        ["app", "tier", STACK_LABEL, MANAGED_BY_LABEL, OWNER_ANNOTATION, "x/y", "k8s.brokkr.io/other"]
    ),
    texts,
    max_size=5,
)


@st.composite
def kube_objects(draw: st.DrawFn) -> KubeObject:
    kind = draw(st.sampled_from(["Deployment", "ConfigMap", "Namespace", "StatefulSet"]))
    api_version = "apps/v1" if kind in ("Deployment", "StatefulSet") else "v1"
    metadata: dict[str, Any] = {"name": "obj"}
    labels, annotations = draw(st.none() | user_maps), draw(st.none() | user_maps)
    if labels is not None:
        metadata["labels"] = labels
    if annotations is not None:
        metadata["annotations"] = annotations
    if draw(st.booleans()):
        metadata["namespace"] = "prod"
    body: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    if draw(st.booleans()):
        template = {
            "metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
            "spec": {"containers": []},
        }
        body["spec"] = {"replicas": draw(st.integers(0, 3)), "template": template}
    return KubeObject(
        api_version=api_version, kind=kind, name="obj", namespace=metadata.get("namespace"), body=body
    )


def _without_marks(body: Mapping[str, Any]) -> dict[str, Any]:
    stripped = copy.deepcopy(dict(body))
    stripped.setdefault("metadata", {}).pop("labels", None)
    stripped["metadata"].pop("annotations", None)
    return stripped


@given(kube_objects())
def test_mark_keeps_user_metadata_adds_ours_and_touches_nothing_else(obj: KubeObject) -> None:
    original = copy.deepcopy(obj.body)
    marked = mark(obj, MARKS)
    assert obj.body == original, "the input must not be mutated"
    labels = marked.body["metadata"]["labels"]
    annotations = marked.body["metadata"]["annotations"]
    ours_labels = {MANAGED_BY_LABEL: "brokkr", STACK_LABEL: str(STACK)}
    ours_annotations = {
        STACK_ANNOTATION: str(STACK),
        CHECKSUM_ANNOTATION: "c1",
        DEPLOYMENT_OBJECT_ANNOTATION: str(uuid.UUID(int=5)),
        OWNER_ANNOTATION: str(AGENT),
    }
    assert labels == {**obj.labels, **ours_labels}
    assert annotations == {**obj.annotations, **ours_annotations}
    assert _without_marks(marked.body) == _without_marks(obj.body)
    assert marked.ref == obj.ref


def test_mark_example_keeps_pod_template_untouched() -> None:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"team": "a"}},
        "spec": {"template": {"metadata": {"labels": {"app": "web"}}}},
    }
    marked = mark(KubeObject.from_manifest(body), MARKS)
    assert marked.body["spec"] == body["spec"]
    assert marked.body["metadata"]["labels"]["app"] == "web"
    assert marked.body["metadata"]["annotations"]["team"] == "a"
    assert is_owned_by(marked.body, AGENT)
    assert is_owned_by(marked.body, str(AGENT))
    assert not is_owned_by(marked.body, OTHER_AGENT)
    assert stack_of(marked.body) == str(STACK)
    assert checksum_of(marked.body) == "c1"


def test_created_namespace_mark_is_ours_alone() -> None:
    ns = KubeObject.from_manifest(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "n", "annotations": {CREATED_NAMESPACE_ANNOTATION: "true"}},
        }
    )
    assert not namespace_created_by_us(mark(ns, MARKS).body), "a manifest cannot claim we created it"
    assert namespace_created_by_us(mark(ns, MARKS, created_namespace=True).body)
    cm = KubeObject.from_manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    with pytest.raises(ValueError, match="Namespaces only"):
        mark(cm, MARKS, created_namespace=True)


def test_marks_need_a_label_safe_stack_id() -> None:
    with pytest.raises(ValidationError, match="label value"):
        OwnershipMarks(stack_id="not a label!", checksum="c", deployment_object_id="d", owner_id="o")
    with pytest.raises(ValidationError):
        OwnershipMarks(stack_id="x" * 64, checksum="c", deployment_object_id="d", owner_id="o")
    assert stack_selector(STACK) == f"app.kubernetes.io/managed-by=brokkr,k8s.brokkr.io/stack={STACK}"


@pytest.mark.parametrize(
    "live",
    [
        {},
        {"metadata": None},
        {"metadata": {"annotations": None}},
        {"metadata": {"annotations": {OWNER_ANNOTATION: 5}}},
    ],
)
def test_readers_tolerate_odd_live_objects(live: dict[str, Any]) -> None:
    assert not is_owned_by(live, AGENT)
    assert stack_of(live) is None
    assert checksum_of(live) is None
    assert not has_owner_references(live)
    assert ref_of(live) is None


# ---- pruning and deletion -------------------------------------------------------------------------

KINDS = [
    ("v1", "Namespace"),
    ("v1", "ConfigMap"),
    ("apps/v1", "Deployment"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
]
NAMES = ["a", "b", "default"]
CHECKSUMS = ["c1", "c2", None]


@st.composite
def live_objects(draw: st.DrawFn) -> dict[str, Any]:
    api_version, kind = draw(st.sampled_from(KINDS))
    metadata: dict[str, Any] = {"name": draw(st.sampled_from(NAMES))}
    if kind in ("ConfigMap", "Deployment"):
        metadata["namespace"] = draw(st.sampled_from(NAMES))
    annotations: dict[str, str] = {}
    for key, pool in (
        # weighted towards "ours" so that deletions (and namespace deletions) are common
        (OWNER_ANNOTATION, [str(AGENT)] * 4 + [str(OTHER_AGENT), None]),
        (STACK_ANNOTATION, [str(STACK)] * 4 + [str(OTHER_STACK), None]),
        (CHECKSUM_ANNOTATION, CHECKSUMS),
    ):
        value = draw(st.sampled_from(pool))
        if value is not None:
            annotations[key] = value
    metadata["annotations"] = annotations
    if draw(st.integers(0, 4)) == 0:
        metadata["ownerReferences"] = [{"kind": "ReplicaSet", "name": "rs", "uid": "u"}]
    live: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    if draw(st.integers(0, 9)) == 0:
        del live["apiVersion"]
    return live


desired_refs = st.sets(
    st.builds(
        lambda av_kind, ns, name: ObjectRef(av_kind[0], av_kind[1], ns, name),
        st.sampled_from(KINDS),
        st.sampled_from([None, *NAMES]),
        st.sampled_from(NAMES),
    ),
    max_size=4,
)


def _key(live: Mapping[str, Any]) -> tuple[str, str, str | None, str] | None:
    if "apiVersion" not in live:
        return None
    group = live["apiVersion"].rpartition("/")[0]
    return (group, live["kind"], live["metadata"].get("namespace"), live["metadata"]["name"])


def naive_deletable(
    observed: list[dict[str, Any]],
    *,
    stale: Any,
    created: set[str],
) -> list[tuple[str, str, str | None, str]]:
    """Reference implementation, written for clarity rather than speed."""
    firsts: dict[tuple[str, str, str | None, str], dict[str, Any]] = {}
    for live in observed:
        key = _key(live)
        if key is not None and key not in firsts:
            firsts[key] = live

    def ours(live: dict[str, Any]) -> bool:
        annotations = live["metadata"]["annotations"]
        return (
            annotations.get(OWNER_ANNOTATION) == str(AGENT)
            and annotations.get(STACK_ANNOTATION) == str(STACK)
            and not live["metadata"].get("ownerReferences")
        )

    goes = [key for key, live in firsts.items() if ours(live) and stale(live, key)]
    objects = [key for key in goes if key[:2] != ("", "Namespace")]

    def occupied(namespace: str) -> bool:
        return any(
            _key(live) is not None
            and live["metadata"].get("namespace") == namespace
            and _key(live) not in objects
            and not live["metadata"].get("ownerReferences")
            for live in observed
        )

    namespaces = [
        key for key in goes if key[:2] == ("", "Namespace") and key[3] in created and not occupied(key[3])
    ]
    return objects + namespaces


def _in_desired(key: tuple[str, str, str | None, str], desired: set[ObjectRef]) -> bool:
    group, kind, namespace, name = key
    for ref in desired:
        if (ref.group, ref.kind, ref.name) != (group, kind, name):
            continue
        if (
            ref.namespace == namespace
            or namespace is None
            or (ref.namespace is None and namespace == "default")
        ):
            return True
    return False


@given(
    st.lists(live_objects(), max_size=12),
    desired_refs,
    st.sets(st.sampled_from(NAMES)),
    st.sampled_from(CHECKSUMS[:2]),
)
def test_prune_set_matches_the_naive_reference_and_is_safe(
    observed: list[dict[str, Any]], desired: set[ObjectRef], created: set[str], current: str
) -> None:
    result = prune_set(
        observed,
        stack_id=STACK,
        current_checksum=current,
        owner_id=AGENT,
        desired_refs=desired,
        namespaces_created_by_us=created,
    )

    def stale(live: dict[str, Any], key: tuple[str, str, str | None, str]) -> bool:
        return checksum_of(live) != current or not _in_desired(key, desired)

    assert [ref.key for ref in result] == naive_deletable(observed, stale=stale, created=created)

    firsts: dict[tuple[str, str, str | None, str], dict[str, Any]] = {}
    for live in observed:
        ref = ref_of(live)
        if ref is not None:
            firsts.setdefault(ref.key, live)
    for ref in result:
        live = firsts[ref.key]
        assert is_owned_by(live, AGENT)
        assert stack_of(live) == str(STACK)
        assert not has_owner_references(live)
        if ref.kind == "Namespace":
            assert ref.name in created
    kinds = [ref.kind == "Namespace" for ref in result]
    assert kinds == sorted(kinds), "namespaces come last"
    assert len({ref.key for ref in result}) == len(result)


@given(st.lists(live_objects(), max_size=12), st.sets(st.sampled_from(NAMES)))
def test_deletion_set_matches_the_reference_and_contains_every_prune(
    observed: list[dict[str, Any]], created: set[str]
) -> None:
    result = deletion_set(observed, stack_id=STACK, owner_id=AGENT, namespaces_created_by_us=created)
    assert [ref.key for ref in result] == naive_deletable(
        observed, stale=lambda _l, _k: True, created=created
    )
    pruned = prune_set(
        observed,
        stack_id=STACK,
        current_checksum="c1",
        owner_id=AGENT,
        desired_refs=set(),
        namespaces_created_by_us=created,
    )
    assert {ref.key for ref in pruned} <= {ref.key for ref in result}


def _live(kind: str, name: str, namespace: str | None = None, **annotations: str) -> dict[str, Any]:
    api_version = "apps/v1" if kind == "Deployment" else "v1"
    base = {OWNER_ANNOTATION: str(AGENT), STACK_ANNOTATION: str(STACK), CHECKSUM_ANNOTATION: "old"}
    metadata: dict[str, Any] = {"name": name, "annotations": {**base, **annotations}}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def test_prune_scenario_old_checksum_goes_current_stays() -> None:
    observed = [
        _live("Deployment", "web", "app", **{CHECKSUM_ANNOTATION: "new"}),
        _live("ConfigMap", "old-cfg", "app"),
        _live("Namespace", "app"),
        _live("ConfigMap", "foreign", "app", **{OWNER_ANNOTATION: str(OTHER_AGENT)}),
    ]
    desired = {ObjectRef("apps/v1", "Deployment", "app", "web")}
    result = prune_set(
        observed,
        stack_id=STACK,
        current_checksum="new",
        owner_id=AGENT,
        desired_refs=desired,
        namespaces_created_by_us={"app"},
    )
    assert [str(ref) for ref in result] == ["ConfigMap/app/old-cfg"]


def test_desired_object_without_namespace_matches_its_live_copy_in_default() -> None:
    observed = [_live("ConfigMap", "cfg", "default", **{CHECKSUM_ANNOTATION: "new"})]
    result = prune_set(
        observed,
        stack_id=STACK,
        current_checksum="new",
        owner_id=AGENT,
        desired_refs={ObjectRef("v1", "ConfigMap", None, "cfg")},
        namespaces_created_by_us=set(),
    )
    assert result == []


def test_deletion_removes_a_created_namespace_last_but_never_a_shared_one() -> None:
    observed = [
        _live("Namespace", "mine"),
        _live("ConfigMap", "a", "mine"),
        _live("Namespace", "shared"),
        _live("ConfigMap", "b", "shared"),
        _live("ConfigMap", "other-stack", "shared", **{STACK_ANNOTATION: str(OTHER_STACK)}),
        _live("Namespace", "preexisting"),
    ]
    result = deletion_set(
        observed, stack_id=STACK, owner_id=AGENT, namespaces_created_by_us={"mine", "shared"}
    )
    assert [str(ref) for ref in result] == ["ConfigMap/mine/a", "ConfigMap/shared/b", "Namespace/mine"]
