"""The wire format: strict request parsing with cattrs and JSON shapes of responses.

Parsing is strict (no ``"false"`` → ``True``, no ``1`` → ``"1"``); any structural problem becomes a 400 whose
message names the offending field, never a 500. Responses use the contract's field names, which the entities share,
minus secrets (PAK hashes, encrypted webhook columns).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar, get_origin
from uuid import UUID

import attrs
import cattrs
from cattrs.cols import list_structure_factory, mapping_structure_factory
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError
from starlette.exceptions import HTTPException
from starlette.requests import Request

from brokkr_domain.errors import ValidationError

T = TypeVar("T")
MAX_BODY_BYTES = 8 * 1024 * 1024
SECRET_FIELDS = frozenset({"pak_hash", "url", "auth_header", "signing_secret"})


def _strict(kind: type, name: str) -> Any:
    def hook(value: Any, _: type) -> Any:
        if type(value) is not kind and not (kind is float and type(value) is int):
            raise TypeError(f"expected {name}, got {type(value).__name__}")
        return value

    return hook


def _uuid(value: Any, _: type) -> UUID:
    if not isinstance(value, str):
        raise TypeError(f"expected a UUID string, got {type(value).__name__}")
    try:
        return UUID(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid UUID") from None


def _datetime(value: Any, _: type) -> datetime:
    if not isinstance(value, str):
        raise TypeError("expected an RFC 3339 timestamp string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed


StructureFactory = Callable[[Any, cattrs.Converter], Callable[[Any, Any], Any]]


def _json_container(
    conv: cattrs.Converter, origin: Any, json_type: type, name: str, make: StructureFactory
) -> None:
    """Structure ``list[...]``/``dict[...]`` only from a JSON array/object: cattrs alone would turn the string
    ``"*"`` into ``["*"]`` and an object into the list of its keys."""

    def factory(cls: Any) -> Callable[[Any, Any], Any]:
        inner = make(cls, conv)

        def hook(value: Any, target: Any) -> Any:
            if not isinstance(value, json_type):
                raise TypeError(f"expected {name}, got {type(value).__name__}")
            return inner(value, target)

        return hook

    conv.register_structure_hook_factory(lambda cls: get_origin(cls) is origin, factory)


def make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False)
    _json_container(conv, list, list, "an array", list_structure_factory)
    _json_container(conv, dict, dict, "an object", mapping_structure_factory)
    conv.register_structure_hook(bool, _strict(bool, "a boolean"))
    conv.register_structure_hook(int, _strict(int, "an integer"))
    conv.register_structure_hook(str, _strict(str, "a string"))
    conv.register_structure_hook(float, _strict(float, "a number"))
    conv.register_structure_hook(UUID, _uuid)
    conv.register_structure_hook(datetime, _datetime)
    conv.register_unstructure_hook(UUID, str)
    conv.register_unstructure_hook(datetime, rfc3339)
    conv.register_unstructure_hook(frozenset, lambda v: sorted(conv.unstructure(x) for x in v))
    return conv


def rfc3339(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


converter = make_converter()


def structure(data: Any, cls: type[T]) -> T:
    """Structure JSON data into ``cls`` or raise a ``ValidationError`` naming the field."""
    try:
        return converter.structure(data, cls)
    except ForbiddenExtraKeysError as exc:
        raise ValidationError(f"unknown field(s): {', '.join(sorted(exc.extra_fields))}") from exc
    except (ClassValidationError, cattrs.BaseValidationError) as exc:
        messages = cattrs.transform_error(exc, path="body")
        field = _field_of(messages[0]) if messages else "body"
        raise ValidationError(
            f"invalid request body: {'; '.join(messages)}", details={"field": field, "errors": messages}
        ) from exc
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"invalid request body: {exc}", details={"field": "body"}) from exc


def _field_of(message: str) -> str:
    marker = " @ "
    path = message.split(marker, 1)[1] if marker in message else "body"
    return path.removeprefix("body.").removeprefix("body")


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed ``limit`` (from ``Content-Length`` or
    while streaming), so an oversized request is never held in memory whole."""
    too_large = HTTPException(413, f"the request body exceeds {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request) -> Any:
    return parse_json(await read_body(request))


def parse_text(raw: bytes, *, code: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"the request body is not UTF-8 text: {exc}", code=code) from exc


def parse_json(raw: bytes) -> Any:
    if not raw:
        raise ValidationError("a JSON request body is required", code="invalid_json")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"malformed JSON: {exc}", code="invalid_json") from exc


async def parse_body(request: Request, cls: type[T]) -> T:
    data = await read_json(request)
    if attrs.has(cls) and not isinstance(data, dict):
        raise ValidationError("the request body must be a JSON object", code="invalid_json")
    return structure(data, cls)


def dump(obj: Any, *, exclude: frozenset[str] = SECRET_FIELDS) -> Any:
    """Entity (or list of entities) → JSON-ready data with the contract's field names."""
    if isinstance(obj, list | tuple):
        return [dump(o, exclude=exclude) for o in obj]
    if attrs.has(type(obj)):
        out: dict[str, Any] = {}
        for f in attrs.fields(type(obj)):
            if f.name in exclude:
                continue
            out[f.name] = dump(getattr(obj, f.name), exclude=exclude)
        return out
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Mapping):
        return {str(k): dump(v, exclude=exclude) for k, v in obj.items()}
    if isinstance(obj, frozenset | set):
        return sorted(dump(v, exclude=exclude) for v in obj)
    return converter.unstructure(obj)


def query_uuid(request: Request, name: str) -> UUID | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return UUID(raw)
    except ValueError:
        raise ValidationError(f"query parameter {name} must be a UUID", details={"field": name}) from None


def query_int(request: Request, name: str, default: int, *, low: int = 0, high: int = 1_000_000) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"query parameter {name} must be an integer", details={"field": name}) from None
    if not low <= value <= high:
        raise ValidationError(
            f"query parameter {name} must be between {low} and {high}", details={"field": name}
        )
    return value


def query_timestamp(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return _datetime(raw, datetime)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"query parameter {name}: {exc}", details={"field": name}) from None


def path_uuid(request: Request, name: str = "id") -> UUID:
    raw = request.path_params[name]
    if isinstance(raw, UUID):
        return raw
    try:
        return UUID(str(raw))
    except ValueError:
        raise ValidationError(f"path parameter {name} must be a UUID", details={"field": name}) from None
