"""Thin glue between Starlette requests and use cases: no try/except here (errors map in ``errors.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import attrs
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from brokkr_broker_app.wire import dump, read_json, structure
from brokkr_domain.errors import ValidationError
from brokkr_domain.model import Caller
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
    """Run a use case ``fn(services, caller, ...)`` on the worker pool (use cases are synchronous)."""
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


def present(raw: dict[str, Any], parsed: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """Keyword arguments for the fields the client actually sent (PUT/PATCH partial semantics)."""
    return {n: getattr(parsed, n) for n in names if n in raw}


def frozen(cls: type[T]) -> type[T]:
    """Request bodies: frozen, keyword-only attrs classes."""
    return attrs.frozen(kw_only=True)(cls)
