"""Thin glue between Starlette requests and use cases: no try/except here (errors map in ``errors.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

import attrs
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from brokkr_broker_app.tracing import Tracing
from brokkr_broker_app.wire import dump, parse_json, parse_text, read_body, read_json, structure
from brokkr_domain.errors import ValidationError
from brokkr_domain.model import Caller
from brokkr_domain.usecases._authz import require_same_id
from brokkr_domain.usecases.context import Services

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def caller_of(request: Request) -> Caller:
    caller: Caller = request.state.caller
    return caller


async def call(request: Request, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Run a use case ``fn(services, caller, ...)`` on the worker pool (use cases are synchronous).

    With tracing on, the use case runs in its own span; the worker thread sees the request span because the
    thread pool runs each call in a copy of the caller's context. With tracing off this is one attribute read.
    """
    tracing: Tracing | None = request.app.state.tracing
    if tracing is not None:
        fn = tracing.usecase(fn)
    return await run_in_threadpool(fn, services_of(request), caller_of(request), *args, **kwargs)


def json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(dump(data), status_code=status)


def no_content() -> Response:
    return Response(status_code=204)


async def body_as(request: Request, cls: type[T]) -> tuple[T, dict[str, Any]]:
    """Parse the JSON object body into ``cls``; also return the raw keys (to tell absent from null)."""
    raw = await read_json(request)
    if not isinstance(raw, dict):
        raise ValidationError("the request body must be a JSON object", code="invalid_json")
    return structure(raw, cls), raw


async def label_body(request: Request, parent_field: str, parent_id: UUID) -> str:
    """The label of ``POST …/labels``, in any of the shapes clients send.

    A JSON string (``"prod"``, as v0.4.0 reads it), an object ``{"label": …, "<parent_field>": …}`` (the spec's
    ``NewStackLabel``/``NewTemplateLabel``; the id, when given, must match the path), or a ``text/plain`` body
    holding the bare label (what a client generated from the spec's ``text/plain`` request body sends).
    """
    raw = await read_body(request)
    if request.headers.get("content-type", "").startswith("text/plain") and not raw.startswith(b'"'):
        return parse_text(raw, code="invalid_label").strip()
    data = parse_json(raw)
    if isinstance(data, dict):
        if parent_field in data:
            raw_id = data[parent_field]
            body_id = None if raw_id is None else structure(raw_id, UUID)
            require_same_id(parent_id, body_id, field=parent_field, code=f"{parent_field}_mismatch")
        data = data.get("label")
    if not isinstance(data, str):
        raise ValidationError(
            'the request body must be a label: a JSON string, {"label": "…"} or text/plain',
            code="invalid_label",
            details={"field": "label"},
        )
    return data


def present(raw: dict[str, Any], parsed: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """Keyword arguments for the fields the client actually sent (PUT/PATCH partial semantics)."""
    return {n: getattr(parsed, n) for n in names if n in raw}


def frozen(cls: type[T]) -> type[T]:
    """Request bodies: frozen, keyword-only attrs classes."""
    return attrs.frozen(kw_only=True)(cls)
