"""Request and object validation: 400 for malformed requests, 422 Invalid for bad objects.

Only the checks a deployment tool can trip over are here (type meta, names, labels, owner
references, a few required workload fields, CRD structure). There is no OpenAPI schema
validation of custom resources.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .errors import ApiError, Cause, JsonDict, bad_request, invalid
from .names import label_value_errors, name_errors, qualified_name_errors
from .resource_types import ResourceType

_ANNOTATIONS_LIMIT = 256 * 1024
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_CONFIG_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"


def _short(body: Mapping[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"))[:200]


def check_type_meta(rtype: ResourceType, body: JsonDict, *, required: bool) -> None:
    """apiVersion/kind must match the URL. Built-in kinds may omit them on POST/PUT (the server
    fills them from the URL); custom resources and apply configurations must carry them."""
    missing = "Kind" if not body.get("kind") else "apiVersion" if not body.get("apiVersion") else None
    if missing and (required or rtype.custom):
        raise bad_request(f"Object '{missing}' is missing in '{_short(body)}'")
    api_version = body.get("apiVersion") or rtype.api_version
    kind = body.get("kind") or rtype.kind
    if api_version != rtype.api_version:
        raise bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version "
            f"({rtype.api_version})"
        )
    if kind != rtype.kind:
        raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rtype.kind})")


def check_url_identity(body: JsonDict, *, name: str | None, namespace: str | None) -> None:
    meta = body.get("metadata") or {}
    if name is not None and meta.get("name") not in (None, name):
        raise bad_request(
            f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
        )
    if namespace is not None and meta.get("namespace") not in (None, "", namespace):
        raise bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )


def _metadata_causes(rtype: ResourceType, meta: Mapping[str, Any]) -> list[Cause]:
    causes = []
    name = meta.get("name") or ""
    if not name:
        causes.append(
            Cause("metadata.name", "FieldValueRequired", "Required value: name or generateName is required")
        )
    else:
        causes.extend(
            Cause("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {e}')
            for e in name_errors(rtype.name_rule, name)
        )
    for key, value in (meta.get("labels") or {}).items():
        causes.extend(
            Cause("metadata.labels", "FieldValueInvalid", f'Invalid value: "{key}": {e}')
            for e in qualified_name_errors(str(key))
        )
        if not isinstance(value, str):
            causes.append(
                Cause(f"metadata.labels.{key}", "FieldValueTypeInvalid", "Invalid value: must be a string")
            )
            continue
        causes.extend(
            Cause("metadata.labels", "FieldValueInvalid", f'Invalid value: "{value}": {e}')
            for e in label_value_errors(value)
        )
    annotations = meta.get("annotations") or {}
    for key in annotations:
        causes.extend(
            Cause("metadata.annotations", "FieldValueInvalid", f'Invalid value: "{key}": {e}')
            for e in qualified_name_errors(str(key))
        )
    size = sum(len(str(k)) + len(str(v)) for k, v in annotations.items())
    if size > _ANNOTATIONS_LIMIT:
        causes.append(
            Cause(
                "metadata.annotations",
                "FieldValueTooLong",
                f"Too long: must have at most {_ANNOTATIONS_LIMIT} bytes",
            )
        )
    for index, ref in enumerate(meta.get("ownerReferences") or []):
        for key in ("apiVersion", "kind", "name", "uid"):
            if not (isinstance(ref, Mapping) and ref.get(key)):
                causes.append(
                    Cause(f"metadata.ownerReferences[{index}].{key}", "FieldValueRequired", "Required value")
                )
    return causes


def _required(obj: Mapping[str, Any], dotted: str) -> list[Cause]:
    node: Any = obj
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return [] if node else [Cause(dotted, "FieldValueRequired", "Required value")]


def _workload_causes(obj: Mapping[str, Any], pod_template: bool) -> list[Cause]:
    if not pod_template:
        return _required(obj, "spec.containers")
    causes = _required(obj, "spec.template.spec.containers")
    selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels")
    template_labels = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
        "labels"
    ) or {}
    if selector is None and "matchExpressions" not in ((obj.get("spec") or {}).get("selector") or {}):
        causes.append(Cause("spec.selector", "FieldValueRequired", "Required value"))
    elif selector and any(template_labels.get(k) != v for k, v in selector.items()):
        causes.append(
            Cause(
                "spec.template.metadata.labels",
                "FieldValueInvalid",
                f"Invalid value: {json.dumps(template_labels)}: `selector` does not match template `labels`",
            )
        )
    return causes


def crd_causes(obj: Mapping[str, Any]) -> list[Cause]:
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    group, plural = spec.get("group") or "", names.get("plural") or ""
    causes = (
        _required(obj, "spec.group") + _required(obj, "spec.names.plural") + _required(obj, "spec.names.kind")
    )
    if group and "." not in group:
        causes.append(
            Cause(
                "spec.group",
                "FieldValueInvalid",
                f'Invalid value: "{group}": should be a domain with at least one dot',
            )
        )
    name = (obj.get("metadata") or {}).get("name")
    if group and plural and name != f"{plural}.{group}":
        causes.append(
            Cause(
                "metadata.name",
                "FieldValueInvalid",
                f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
            )
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            Cause(
                "spec.scope",
                "FieldValueNotSupported",
                f'Unsupported value: "{spec.get("scope")}": supported values: "Cluster", "Namespaced"',
            )
        )
    versions = spec.get("versions") or []
    if not versions or sum(1 for v in versions if v.get("storage")) != 1:
        message = "Invalid value: must have exactly one version marked as storage version"
        causes.append(Cause("spec.versions", "FieldValueInvalid", message))
    return causes


def validate_object(rtype: ResourceType, obj: JsonDict) -> None:
    """Raise 422 Invalid with one cause per problem found."""
    meta = obj.get("metadata") or {}
    causes = _metadata_causes(rtype, meta)
    if rtype.kind == "Pod" and not rtype.custom:
        causes += _workload_causes(obj, pod_template=False)
    elif rtype.group in ("apps", "batch") and rtype.kind != "CronJob":
        causes += _workload_causes(obj, pod_template=True)
    elif rtype.kind == "CronJob" and not rtype.custom:
        causes += _required(obj, "spec.schedule") + _required(
            obj, "spec.jobTemplate.spec.template.spec.containers"
        )
    elif rtype.kind == "CustomResourceDefinition" and not rtype.custom:
        causes += crd_causes(obj)
    elif rtype.kind in ("ConfigMap", "Secret") and not rtype.custom:
        for section in ("data", "binaryData", "stringData"):
            for key in obj.get(section) or {}:
                if not _CONFIG_KEY.fullmatch(str(key)):
                    causes.append(
                        Cause(
                            f"{section}[{key}]",
                            "FieldValueInvalid",
                            f'Invalid value: "{key}": {_CONFIG_KEY_MSG}',
                        )
                    )
    if causes:
        raise invalid(rtype.kind, rtype.group, meta.get("name") or "", causes)


def require_object(body: Any) -> JsonDict:
    if not isinstance(body, dict):
        raise ApiError(400, "the body of the request must be a JSON or YAML object")
    return body
