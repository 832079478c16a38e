"""Server-side apply and managed-fields bookkeeping.

Two entry points, mirroring the two operations recorded in ``metadata.managedFields``:

* :func:`apply` (``operation: Apply``): detect conflicts with other managers' fields (409 unless
  ``force``, which moves ownership), merge the applied configuration into the live object, and
  remove fields this manager applied before, omits now, and nobody else owns.
* :func:`record_update` (``operation: Update``, for POST/PUT/merge/JSON patches): the writer takes
  every field it changed; other managers lose fields that changed or disappeared. Never conflicts.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, JsonDict
from .fieldsets import (
    Path,
    fieldset,
    get_path,
    is_associative,
    is_leaf_value,
    path_to_string,
    remove_path,
    to_fields_v1,
    trim,
)


@dataclass
class ManagedEntry:
    manager: str
    operation: str
    api_version: str
    time: str
    fields: set[Path] = field(default_factory=set)
    subresource: str = ""

    def owner_key(self) -> tuple[str, str, str]:
        return (self.manager, self.operation, self.subresource)

    def to_json(self) -> JsonDict:
        entry: JsonDict = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(self.fields),
        }
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


@dataclass(frozen=True)
class Conflict:
    path: Path
    manager: str
    api_version: str


def conflict_error(conflicts: list[Conflict]) -> ApiError:
    """409 Conflict worded like the API server, one cause per contested field."""
    by_manager: dict[tuple[str, str], list[Conflict]] = {}
    for c in conflicts:
        by_manager.setdefault((c.manager, c.api_version), []).append(c)
    parts = []
    for (manager, api_version), items in by_manager.items():
        if len(items) == 1:
            parts.append(f'conflict with "{manager}" using {api_version}: {path_to_string(items[0].path)}')
        else:
            lines = "".join(f"\n- {path_to_string(c.path)}" for c in items)
            parts.append(f'conflicts with "{manager}" using {api_version}:{lines}')
    count = len(conflicts)
    noun = "conflict" if count == 1 else "conflicts"
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f'conflict with "{c.manager}" using {c.api_version}',
            "field": path_to_string(c.path),
        }
        for c in conflicts
    ]
    return ApiError(409, f"Apply failed with {count} {noun}: " + "\n".join(parts), details={"causes": causes})


def merge_applied(live: Any, applied: Any) -> Any:
    """Merge an applied configuration into live data: maps recursively, named lists by name."""
    if isinstance(applied, Mapping) and isinstance(live, Mapping):
        result = dict(live)
        for key, value in applied.items():
            result[key] = merge_applied(live.get(key), value)
        return result
    if is_associative(applied) and (is_associative(live) or live in (None, [])):
        live_items = {item["name"]: item for item in (live or [])}
        applied_names = {item["name"] for item in applied}
        merged = [merge_applied(live_items.get(item["name"]), item) for item in applied]
        merged.extend(copy.deepcopy(i) for i in (live or []) if i["name"] not in applied_names)
        return merged
    return copy.deepcopy(applied)


def _conflicts(
    live: Mapping[str, Any], cfg: Mapping[str, Any], wanted: set[Path], entry: ManagedEntry
) -> list[Path]:
    contested = []
    for path in sorted(wanted & entry.fields):
        found_new, new_value = get_path(cfg, path)
        if not found_new or not is_leaf_value(new_value):
            continue
        found_live, live_value = get_path(live, path)
        if found_live and live_value != new_value:
            contested.append(path)
    return contested


def apply(
    live: Mapping[str, Any],
    managed: list[ManagedEntry],
    applied: Mapping[str, Any],
    *,
    manager: str,
    api_version: str,
    force: bool,
    now: str,
    scope: str = "main",
    has_status: bool = False,
) -> tuple[dict[str, Any], list[ManagedEntry]]:
    """Apply ``applied`` as ``manager``; returns the new object and managed-fields entries."""
    subresource = "status" if scope == "status" else ""
    cfg = trim(applied, scope=scope, has_status=has_status)
    wanted = fieldset(cfg)
    me = (manager, "Apply", subresource)
    entries = [copy.deepcopy(e) for e in managed]
    conflicts: list[Conflict] = []
    for entry in entries:
        if entry.owner_key() != me:
            conflicts.extend(
                Conflict(p, entry.manager, entry.api_version) for p in _conflicts(live, cfg, wanted, entry)
            )
    if conflicts and not force:
        raise conflict_error(conflicts)
    contested = {c.path for c in conflicts}
    for entry in entries:
        if entry.owner_key() != me:
            entry.fields -= contested

    merged: dict[str, Any] = merge_applied(copy.deepcopy(dict(live)), cfg)
    mine = next((e for e in entries if e.owner_key() == me), None)
    previously = mine.fields if mine else set()
    others = set().union(*(e.fields for e in entries if e.owner_key() != me))
    keep = others | wanted
    for path in sorted(previously - wanted, key=len):
        # Kept when anyone (this apply included) still owns the path or something beneath it.
        if not any(o[: len(path)] == path for o in keep):
            remove_path(merged, path, keep)

    result: list[ManagedEntry] = []
    for entry in entries:
        if entry.owner_key() == me:
            continue
        entry.fields = {p for p in entry.fields if get_path(merged, p)[0]}
        if entry.fields:
            result.append(entry)
    if wanted:
        new_entry = ManagedEntry(manager, "Apply", api_version, now, wanted, subresource)
        if mine is not None and mine.fields == wanted and mine.api_version == api_version:
            new_entry.time = mine.time
        position = next((i for i, e in enumerate(managed) if e.owner_key() == me), len(result))
        result.insert(min(position, len(result)), new_entry)
    return merged, result


def record_update(
    old: Mapping[str, Any] | None,
    managed: list[ManagedEntry],
    new: Mapping[str, Any],
    *,
    manager: str,
    api_version: str,
    now: str,
    scope: str = "main",
    has_status: bool = False,
) -> list[ManagedEntry]:
    """Ownership after a non-apply write of ``new`` over ``old`` by ``manager``."""
    subresource = "status" if scope == "status" else ""
    old_t = trim(old or {}, scope=scope, has_status=has_status)
    new_t = trim(new, scope=scope, has_status=has_status)
    old_set, new_set = fieldset(old_t), fieldset(new_t)
    changed = set()
    for path in new_set:
        if path not in old_set:
            changed.add(path)
            continue
        new_value = get_path(new_t, path)[1]
        if is_leaf_value(new_value) and get_path(old_t, path)[1] != new_value:
            changed.add(path)
    removed = old_set - new_set
    me = (manager, "Update", subresource)
    result: list[ManagedEntry] = []
    mine: ManagedEntry | None = None
    for original in managed:
        entry = copy.deepcopy(original)
        if entry.owner_key() == me:
            mine = entry
            entry.fields = (entry.fields - removed) | changed
            if changed:
                entry.time, entry.api_version = now, api_version
        else:
            entry.fields -= changed | removed
        if entry.fields:
            result.append(entry)
    if mine is None and changed:
        result.append(ManagedEntry(manager, "Update", api_version, now, changed, subresource))
    return result


def same_ownership(a: list[ManagedEntry], b: list[ManagedEntry]) -> bool:
    """Equal apart from timestamps: such a write is a no-op for the API server."""
    return [(e.owner_key(), e.api_version, e.fields) for e in a] == [
        (e.owner_key(), e.api_version, e.fields) for e in b
    ]
