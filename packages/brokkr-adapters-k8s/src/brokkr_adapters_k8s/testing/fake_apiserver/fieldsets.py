"""Field sets: which leaves of an object a field manager owns, in the ``FieldsV1`` vocabulary.

A field path is a tuple of ``FieldsV1`` keys: ``("f:spec", "f:replicas")``. Maps are walked key by
key; a list whose items are all maps with distinct ``name`` values is treated as an associative
list (items addressed as ``k:{"name":"app"}``, and the item itself is owned too, which ``FieldsV1``
writes as ``"."``); every other list is atomic (a leaf). This matches the real schemas for the
lists that matter most (containers, env, volumes, CRD versions) and is a documented simplification
for the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

Path = tuple[str, ...]

# Metadata the server owns: never part of anyone's field set.
SERVER_METADATA = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)


def item_key(item: Mapping[str, Any]) -> str:
    return "k:" + json.dumps({"name": item["name"]}, separators=(",", ":"))


def is_associative(value: Any) -> bool:
    """A non-empty list of maps keyed by distinct ``name`` strings."""
    if not isinstance(value, list) or not value:
        return False
    if not all(isinstance(item, Mapping) and isinstance(item.get("name"), str) for item in value):
        return False
    return len({item["name"] for item in value}) == len(value)


def trim(obj: Mapping[str, Any], *, scope: str = "main", has_status: bool = False) -> dict[str, Any]:
    """The part of an object that field ownership is about.

    ``scope`` "main" drops ``status`` when the kind has a status subresource (writes to the main
    resource cannot change it); "status" keeps only ``status``.
    """
    result: dict[str, Any] = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if scope == "status" and key != "status":
            continue
        if scope == "main" and has_status and key == "status":
            continue
        if key == "metadata" and isinstance(value, Mapping):
            meta = {k: v for k, v in value.items() if k not in SERVER_METADATA}
            if meta:
                result[key] = meta
            continue
        result[key] = value
    cleaned: dict[str, Any] = drop_nulls(result)
    return cleaned


def drop_nulls(value: Any) -> Any:
    """Apply configurations treat ``null`` as "not specified"."""
    if isinstance(value, Mapping):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def fieldset(obj: Mapping[str, Any], prefix: Path = ()) -> set[Path]:
    """Every owned path in an (already trimmed) object."""
    paths: set[Path] = set()
    for key, value in obj.items():
        path = (*prefix, f"f:{key}")
        if isinstance(value, Mapping) and value:
            paths |= fieldset(value, path)
        elif is_associative(value):
            for item in value:
                item_path = (*path, item_key(item))
                paths.add(item_path)
                paths |= fieldset(item, item_path)
        else:
            paths.add(path)
    return paths


def get_path(obj: Any, path: Path) -> tuple[bool, Any]:
    """``(found, value)`` for a path; associative items are looked up by name."""
    current = obj
    for element in path:
        if element.startswith("f:"):
            if not isinstance(current, Mapping) or element[2:] not in current:
                return False, None
            current = current[element[2:]]
        else:
            wanted = json.loads(element[2:])["name"]
            if not isinstance(current, list):
                return False, None
            match = [i for i in current if isinstance(i, Mapping) and i.get("name") == wanted]
            if not match:
                return False, None
            current = match[0]
    return True, current


def remove_path(obj: dict[str, Any], path: Path, keep: set[Path]) -> None:
    """Delete a path, then any map or list it leaves empty that nobody owns (``keep``).

    Callers remove shallow paths before deep ones: deleting an associative item's ``name`` first
    would make the item itself unaddressable.
    """
    found, _ = get_path(obj, path)
    if not found or not path:
        return
    _, parent = get_path(obj, path[:-1])
    last = path[-1]
    if last.startswith("f:") and isinstance(parent, dict):
        del parent[last[2:]]
    elif isinstance(parent, list):
        wanted = json.loads(last[2:])["name"]
        parent[:] = [i for i in parent if not (isinstance(i, Mapping) and i.get("name") == wanted)]
    parent_path = path[:-1]
    if len(parent_path) >= 1 and not parent and parent_path not in keep and parent_path != ("f:metadata",):
        remove_path(obj, parent_path, keep)


def is_leaf_value(value: Any) -> bool:
    """Values compared when checking conflicts: scalars, atomic lists and empty maps."""
    return not (isinstance(value, Mapping) and value) and not is_associative(value)


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """Render a path set as the nested ``FieldsV1`` JSON, with ``"."`` for owned inner nodes."""
    tree: dict[str, Any] = {}
    path_set = set(paths)
    for path in sorted(path_set):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    for path in path_set:
        node = tree
        for element in path:
            node = node[element]
        if node:
            node["."] = {}
    return _sorted_tree(tree)


def _sorted_tree(tree: dict[str, Any]) -> dict[str, Any]:
    return {k: _sorted_tree(tree[k]) for k in sorted(tree)}


def from_fields_v1(tree: Mapping[str, Any], prefix: Path = ()) -> set[Path]:
    """Inverse of :func:`to_fields_v1`."""
    paths: set[Path] = set()
    for key, child in tree.items():
        if key == ".":
            paths.add(prefix)
            continue
        path = (*prefix, key)
        if child:
            paths |= from_fields_v1(child, path)
        else:
            paths.add(path)
    return paths


def path_to_string(path: Path) -> str:
    """The human form used in conflict messages: ``.spec.containers[name="app"].image``."""
    out = []
    for element in path:
        if element.startswith("f:"):
            out.append("." + element[2:])
        else:
            key = json.loads(element[2:])
            out.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in key.items()) + "]")
    return "".join(out)
