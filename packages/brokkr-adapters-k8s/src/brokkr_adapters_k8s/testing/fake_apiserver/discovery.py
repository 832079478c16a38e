"""The discovery documents (``/version``, ``/api``, ``/apis``, resource lists).

The dynamic client builds its whole view of the cluster from these, so their shapes follow the
real server's: ``preferredVersion`` is an exact copy of one ``versions`` entry (the client compares
them as dicts), subresources appear as ``<plural>/<sub>`` entries with an empty singular name.
"""

from __future__ import annotations

from .errors import JsonDict
from .registry import TypeRegistry
from .resource_types import ALL_VERBS, ResourceType

GIT_VERSION = "v1.33.0-brokkr-fake"

_SUBRESOURCE_VERBS = {"status": ["get", "patch", "update"], "log": ["get"]}


def version_info() -> JsonDict:
    return {
        "major": "1",
        "minor": "33",
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> JsonDict:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_version(group: str, version: str) -> JsonDict:
    return {"groupVersion": f"{group}/{version}", "version": version}


def api_group(registry: TypeRegistry, group: str) -> JsonDict | None:
    versions = registry.group_versions(group)
    if not versions:
        return None
    entries = [_group_version(group, v) for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": entries,
        "preferredVersion": dict(entries[0]),
    }


def api_group_list(registry: TypeRegistry) -> JsonDict:
    groups = []
    for group in registry.groups():
        doc = api_group(registry, group)
        if doc is not None:
            del doc["kind"], doc["apiVersion"]
            groups.append(doc)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _resource_entry(rtype: ResourceType) -> JsonDict:
    entry: JsonDict = {
        "name": rtype.plural,
        "singularName": rtype.singular_name,
        "namespaced": rtype.namespaced,
        "kind": rtype.kind,
        "verbs": list(ALL_VERBS),
    }
    if rtype.short_names:
        entry["shortNames"] = list(rtype.short_names)
    if rtype.categories:
        entry["categories"] = list(rtype.categories)
    return entry


def _subresource_entry(rtype: ResourceType, sub: str) -> JsonDict:
    return {
        "name": f"{rtype.plural}/{sub}",
        "singularName": "",
        "namespaced": rtype.namespaced,
        "kind": rtype.kind,
        "verbs": list(_SUBRESOURCE_VERBS.get(sub, ["get"])),
    }


def resource_list(registry: TypeRegistry, group: str, version: str) -> JsonDict | None:
    types = registry.in_group_version(group, version)
    if not types:
        return None
    resources = []
    for rtype in sorted(types, key=lambda t: t.plural):
        resources.append(_resource_entry(rtype))
        resources.extend(_subresource_entry(rtype, sub) for sub in rtype.subresources)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def openapi_v2() -> JsonDict:
    """A minimal, valid Swagger document: the fake does not publish schemas."""
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": {},
        "definitions": {},
    }


def openapi_v3() -> JsonDict:
    return {"paths": {}}
