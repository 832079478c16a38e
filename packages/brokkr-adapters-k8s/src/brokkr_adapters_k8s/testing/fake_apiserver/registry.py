"""The set of resource types currently served: the built-ins plus whatever applied CRDs added.

Not thread-safe by itself: :class:`~.store.Store` only touches it while holding its lock.
"""

from __future__ import annotations

from collections.abc import Iterable

from .resource_types import BUILTIN_TYPES, ResourceType, version_priority


class TypeRegistry:
    """Looks up resource types by URL (group/version/plural) or by group and kind."""

    def __init__(self, builtins: Iterable[ResourceType] = BUILTIN_TYPES):
        self._builtin = list(builtins)
        self._by_crd: dict[str, list[ResourceType]] = {}

    def all(self) -> list[ResourceType]:
        result = list(self._builtin)
        for types in self._by_crd.values():
            result.extend(types)
        return result

    def register_crd(self, crd_name: str, types: list[ResourceType]) -> None:
        """Replace whatever the CRD served before (versions may have been added or stopped)."""
        if types:
            self._by_crd[crd_name] = types
        else:
            self._by_crd.pop(crd_name, None)

    def unregister_crd(self, crd_name: str) -> list[ResourceType]:
        return self._by_crd.pop(crd_name, [])

    def resolve(self, group: str, version: str, plural: str) -> ResourceType | None:
        for rtype in self.all():
            if rtype.group == group and rtype.version == version and rtype.plural == plural:
                return rtype
        return None

    def by_kind(self, group: str, kind: str, version: str | None = None) -> ResourceType | None:
        """The type for a group and kind, at a given version or the preferred one."""
        matches = [t for t in self.all() if t.group == group and t.kind == kind]
        if version is not None:
            matches = [t for t in matches if t.version == version]
        if not matches:
            return None
        return sorted(matches, key=lambda t: version_priority(t.version))[0]

    def types_for_store(self, store_key: tuple[str, str]) -> list[ResourceType]:
        return [t for t in self.all() if t.store_key == store_key]

    def group_versions(self, group: str) -> list[str]:
        """Versions served for a group, preferred first."""
        versions = {t.version for t in self.all() if t.group == group}
        return sorted(versions, key=version_priority)

    def groups(self) -> list[str]:
        """Named groups (the core group is served under /api, not /apis), in registration order."""
        seen: dict[str, None] = {}
        for rtype in self.all():
            if rtype.group:
                seen.setdefault(rtype.group, None)
        return list(seen)

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self.all() if t.group == group and t.version == version]
