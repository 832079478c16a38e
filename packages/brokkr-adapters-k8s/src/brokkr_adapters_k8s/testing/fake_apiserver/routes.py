"""HTTP routing: URL → resource type/namespace/name/subresource → verb on the cluster state.

One catch-all Starlette route, because Kubernetes URLs are data-driven (CRDs add paths at run
time). Every request is recorded and may be intercepted by an injected fault first.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from . import discovery, errors
from .errors import ApiError, JsonDict
from .faults import FaultInjector, RequestLog
from .patches import APPLY, PATCH_TYPES
from .resource_types import ResourceType
from .state import ClusterState

log = logging.getLogger(__name__)

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Target:
    rtype: ResourceType
    namespace: str | None
    name: str | None
    subresource: str


def json_response(body: JsonDict, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)


def error_response(error: ApiError, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(error.to_status(), status_code=error.code, headers=headers)


def resolve_target(state: ClusterState, parts: list[str]) -> Target:
    """Map ``/api/v1/...`` or ``/apis/<group>/<version>/...`` onto a served resource."""
    if parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    else:
        group, version, rest = parts[1], parts[2], parts[3:]
    registry = state.registry
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        candidate = registry.resolve(group, version, rest[2])
        if candidate is not None and candidate.namespaced:
            namespace, rest = rest[1], rest[2:]
    rtype = registry.resolve(group, version, rest[0])
    if rtype is None or len(rest) > 3:
        raise errors.no_such_path()
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else ""
    if subresource and subresource not in rtype.subresources:
        raise errors.no_such_path()
    return Target(rtype, namespace, name, subresource)


def _decode(body: bytes, content_type: str) -> Any:
    if not body:
        return None
    text = body.decode("utf-8")
    if "yaml" in content_type:
        try:
            return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader, C-accelerated when available
        except yaml.YAMLError as exc:
            raise errors.bad_request(f"error decoding YAML: {exc}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc


def _flag(value: str | None, name: str) -> bool:
    if value in (None, "", "false", "False", "0"):
        return False
    if value in ("true", "True", "1"):
        return True
    raise errors.bad_request(f"invalid boolean value {value!r} for query parameter {name}")


class Handler:
    """Holds the collaborators for one app; :meth:`handle` is the Starlette endpoint."""

    def __init__(self, state: ClusterState, faults: FaultInjector, requests: RequestLog):
        self.state = state
        self.faults = faults
        self.requests = requests

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        entry = self.requests.record(
            request.method,
            request.url.path,
            raw_query=request.url.query,
            content_type=content_type,
            body=body,
            user_agent=request.headers.get("user-agent", ""),
        )
        response: Response | None = None
        fault = self.faults.take(request.method, request.url.path)
        if fault is not None:
            if fault.latency:
                await asyncio.sleep(fault.latency)
            if fault.status is not None:
                response = error_response(fault.error(), fault.retry_after)
        if response is None:
            try:
                response = self.dispatch(request, body, content_type)
            except ApiError as exc:
                response = error_response(exc)
            except Exception as exc:
                log.exception("fake apiserver failed on %s %s", request.method, request.url.path)
                response = error_response(ApiError(500, f"internal error in fake API server: {exc!r}"))
        entry.status = response.status_code
        return response

    def dispatch(self, request: Request, body: bytes, content_type: str) -> Response:
        parts = [p for p in request.url.path.split("/") if p]
        doc = self.discovery(parts, request)
        if doc is not None:
            if request.method != "GET":
                raise errors.method_not_allowed(request.method)
            return doc
        if not parts or parts[0] not in ("api", "apis") or len(parts) < (3 if parts[0] == "api" else 4):
            raise errors.no_such_path()
        with self.state.lock:
            target = resolve_target(self.state, parts)
        query = request.query_params
        if target.name is None:
            return self.collection(
                request.method, target, query, body, content_type=content_type, request=request
            )
        if target.subresource == "log":
            if request.method != "GET":
                raise errors.method_not_allowed(request.method)
            return self.pod_log(target, query)
        return self.item(request.method, target, query, body, content_type=content_type, request=request)

    def discovery(self, parts: list[str], request: Request) -> Response | None:
        registry = self.state.registry
        with self.state.lock:
            match parts:
                case ["version"]:
                    return json_response(discovery.version_info())
                case ["api"]:
                    return json_response(discovery.api_versions(request.url.netloc))
                case ["api", version]:
                    doc = discovery.resource_list(registry, "", version)
                case ["apis"]:
                    return json_response(discovery.api_group_list(registry))
                case ["apis", group]:
                    doc = discovery.api_group(registry, group)
                case ["apis", group, version]:
                    doc = discovery.resource_list(registry, group, version)
                case ["openapi", "v2"]:
                    return json_response(discovery.openapi_v2())
                case ["openapi", "v3"]:
                    return json_response(discovery.openapi_v3())
                case ["healthz"] | ["livez"] | ["readyz"]:
                    return PlainTextResponse("ok")
                case _:
                    return None
        if doc is None:
            raise errors.no_such_path()
        return json_response(doc)

    def _manager(self, query: Any, request: Request) -> str:
        manager = query.get("fieldManager")
        if manager:
            return str(manager)
        agent = request.headers.get("user-agent", "")
        return agent.split("/")[0] or "unknown"

    def collection(
        self, method: str, target: Target, query: Any, body: bytes, *, content_type: str, request: Request
    ) -> Response:
        rtype, namespace = target.rtype, target.namespace
        if method == "GET":
            if _flag(query.get("watch"), "watch"):
                raise ApiError(405, "watch is not supported by the brokkr fake API server", details={})
            limit = query.get("limit")
            listing = self.state.api_list(
                rtype,
                namespace,
                label_selector=query.get("labelSelector"),
                field_selector=query.get("fieldSelector"),
                limit=int(limit) if limit else None,
                continue_token=query.get("continue"),
            )
            return json_response(listing)
        if rtype.namespaced and namespace is None:
            raise errors.method_not_allowed(method)
        if method == "POST":
            created = self.state.api_create(
                rtype,
                namespace,
                _decode(body, content_type),
                manager=self._manager(query, request),
                dry_run=_dry_run(query),
            )
            return json_response(created, 201)
        if method == "DELETE":
            options = _delete_options(query, body)
            listing = self.state.api_delete_collection(
                rtype,
                namespace,
                label_selector=query.get("labelSelector"),
                field_selector=query.get("fieldSelector"),
                propagation=options["propagation"],
                dry_run=options["dry_run"],
            )
            return json_response(listing)
        raise errors.method_not_allowed(method)

    def item(
        self, method: str, target: Target, query: Any, body: bytes, *, content_type: str, request: Request
    ) -> Response:
        rtype, namespace, name = target.rtype, target.namespace, target.name or ""
        if rtype.namespaced and namespace is None:
            raise errors.no_such_path()
        sub = target.subresource
        if method == "GET":
            return json_response(self.state.api_get(rtype, namespace, name))
        if method == "PUT":
            result = self.state.api_replace(
                rtype,
                namespace,
                name,
                _decode(body, content_type),
                manager=self._manager(query, request),
                dry_run=_dry_run(query),
                subresource=sub,
            )
            return json_response(result)
        if method == "PATCH":
            return self.patch(target, query, body, content_type, request)
        if method == "DELETE" and not sub:
            options = _delete_options(query, body)
            result = self.state.api_delete(
                rtype,
                namespace,
                name,
                propagation=options["propagation"],
                dry_run=options["dry_run"],
                preconditions=options["preconditions"],
            )
            return json_response(result)
        raise errors.method_not_allowed(method)

    def patch(self, target: Target, query: Any, body: bytes, content_type: str, request: Request) -> Response:
        accepted = [t for t in PATCH_TYPES if not (target.rtype.custom and "strategic" in t)]
        if content_type not in accepted:
            raise errors.unsupported_media_type(content_type, accepted)
        force = _flag(query.get("force"), "force")
        if content_type == APPLY and not query.get("fieldManager"):
            raise errors.bad_request("fieldManager is required for apply requests")
        if force and content_type != APPLY:
            raise errors.invalid(
                "Patch",
                "",
                target.name or "",
                [
                    errors.Cause(
                        "force", "FieldValueForbidden", "Forbidden: may not be specified for non-apply patch"
                    )
                ],
            )
        result, created = self.state.api_patch(
            target.rtype,
            target.namespace,
            target.name or "",
            _decode(body, content_type),
            content_type,
            manager=self._manager(query, request),
            force=force,
            dry_run=_dry_run(query),
            subresource=target.subresource,
        )
        return json_response(result, 201 if created else 200)

    def pod_log(self, target: Target, query: Any) -> Response:
        tail = query.get("tailLines")
        limit_bytes = query.get("limitBytes")
        text = self.state.pod_log(
            target.namespace or "",
            target.name or "",
            container=query.get("container"),
            tail_lines=int(tail) if tail else None,
            previous=_flag(query.get("previous"), "previous"),
            limit_bytes=int(limit_bytes) if limit_bytes else None,
        )
        return PlainTextResponse(text)


def _dry_run(query: Any) -> bool:
    values = query.getlist("dryRun")
    for value in values:
        if value != "All":
            raise errors.bad_request(f'Invalid dry run value "{value}": supported values: "All"')
    return bool(values)


def _delete_options(query: Any, body: bytes) -> dict[str, Any]:
    options = _decode(body, "application/json") or {}
    if not isinstance(options, dict):
        raise errors.bad_request("DeleteOptions must be an object")
    propagation = query.get("propagationPolicy") or options.get("propagationPolicy")
    orphan = query.get("orphanDependents") or options.get("orphanDependents")
    if propagation is None and orphan in ("true", True):
        propagation = "Orphan"
    dry_run = _dry_run(query) or bool(options.get("dryRun"))
    return {"propagation": propagation, "dry_run": dry_run, "preconditions": options.get("preconditions")}


def create_app(state: ClusterState, faults: FaultInjector, requests: RequestLog) -> Starlette:
    handler = Handler(state, faults, requests)
    return Starlette(routes=[Route("/{path:path}", handler.handle, methods=_METHODS)])
