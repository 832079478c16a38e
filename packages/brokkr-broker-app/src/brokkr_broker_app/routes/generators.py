"""Generators: CI identities that own stacks and templates."""

from __future__ import annotations

from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from brokkr_broker_app.routes._http import body_as, call, frozen, json, no_content, present
from brokkr_broker_app.wire import parse_body, path_uuid
from brokkr_domain.usecases import generators


@frozen
class NewGenerator:
    name: str
    description: str | None = None


@frozen
class GeneratorUpdate:
    id: UUID | None = None
    name: str | None = None
    description: str | None = None
    is_active: bool | None = None


async def list_generators(request: Request) -> Response:
    return json(await call(request, generators.list_generators))


async def create_generator(request: Request) -> Response:
    body = await parse_body(request, NewGenerator)
    generator, pak = await call(
        request, generators.create_generator, name=body.name, description=body.description
    )
    return json({"generator": generator, "pak": pak}, status=201)


async def get_generator(request: Request) -> Response:
    return json(await call(request, generators.get_generator, path_uuid(request)))


async def update_generator(request: Request) -> Response:
    body, raw = await body_as(request, GeneratorUpdate)
    fields = present(raw, body, ("name", "description", "is_active"))
    if fields.get("name") is None:
        fields.pop("name", None)
    if fields.get("is_active") is None:
        fields.pop("is_active", None)
    return json(
        await call(request, generators.update_generator, path_uuid(request), body_id=body.id, **fields)
    )


async def delete_generator(request: Request) -> Response:
    generator_id = path_uuid(request)
    await call(request, generators.delete_generator, generator_id)
    request.app.state.auth_cache.invalidate_actor(generator_id)
    return no_content()


async def rotate_pak(request: Request) -> Response:
    generator, pak = await call(request, generators.rotate_generator_pak, path_uuid(request))
    request.app.state.auth_cache.invalidate_actor(generator.id)
    return json({"generator": generator, "pak": pak})


routes = [
    Route("/generators", list_generators, methods=["GET"]),
    Route("/generators", create_generator, methods=["POST"]),
    Route("/generators/{id}", get_generator, methods=["GET"]),
    Route("/generators/{id}", update_generator, methods=["PUT"]),
    Route("/generators/{id}", delete_generator, methods=["DELETE"]),
    Route("/generators/{id}/rotate-pak", rotate_pak, methods=["POST"]),
]
