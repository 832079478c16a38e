"""Stacks, their labels and annotations, their deployment objects, and their health roll-up."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from brokkr_broker_app.routes._http import body_as, call, frozen, json, label_body, no_content, present
from brokkr_broker_app.wire import parse_body, path_uuid
from brokkr_domain.usecases import health, stacks, templates


@frozen
class NewStack:
    name: str
    generator_id: UUID
    description: str | None = None


@frozen
class StackUpdate:
    id: UUID | None = None
    name: str | None = None
    description: str | None = None
    generator_id: UUID | None = None


@frozen
class NewStackAnnotation:
    key: str
    value: str
    stack_id: UUID | None = None


@frozen
class NewDeploymentObject:
    yaml_content: str
    is_deletion_marker: bool = False


@frozen
class Instantiation:
    template_id: UUID
    parameters: dict[str, Any]


async def list_stacks(request: Request) -> Response:
    return json(await call(request, stacks.list_stacks))


async def create_stack(request: Request) -> Response:
    body = await parse_body(request, NewStack)
    stack = await call(
        request,
        stacks.create_stack,
        name=body.name,
        generator_id=body.generator_id,
        description=body.description,
    )
    return json(stack, status=201)


async def get_stack(request: Request) -> Response:
    return json(await call(request, stacks.get_stack, path_uuid(request)))


async def update_stack(request: Request) -> Response:
    body, raw = await body_as(request, StackUpdate)
    fields = present(raw, body, ("name", "description", "generator_id"))
    for key in ("name", "generator_id"):
        if fields.get(key) is None:
            fields.pop(key, None)
    return json(await call(request, stacks.update_stack, path_uuid(request), body_id=body.id, **fields))


async def delete_stack(request: Request) -> Response:
    await call(request, stacks.delete_stack, path_uuid(request))
    return no_content()


async def list_labels(request: Request) -> Response:
    return json(await call(request, stacks.list_stack_labels, path_uuid(request)))


async def add_label(request: Request) -> Response:
    stack_id = path_uuid(request)
    label = await label_body(request, "stack_id", stack_id)
    return json(await call(request, stacks.add_stack_label, stack_id, label))


async def remove_label(request: Request) -> Response:
    await call(request, stacks.remove_stack_label, path_uuid(request), request.path_params["label"])
    return no_content()


async def list_annotations(request: Request) -> Response:
    return json(await call(request, stacks.list_stack_annotations, path_uuid(request)))


async def add_annotation(request: Request) -> Response:
    body = await parse_body(request, NewStackAnnotation)
    annotation = await call(
        request,
        stacks.add_stack_annotation,
        path_uuid(request),
        key=body.key,
        value=body.value,
        body_stack_id=body.stack_id,
    )
    return json(annotation)


async def remove_annotation(request: Request) -> Response:
    await call(request, stacks.remove_stack_annotation, path_uuid(request), request.path_params["key"])
    return no_content()


async def list_objects(request: Request) -> Response:
    return json(await call(request, stacks.list_deployment_objects, path_uuid(request)))


async def create_object(request: Request) -> Response:
    body = await parse_body(request, NewDeploymentObject)
    obj = await call(
        request,
        stacks.create_deployment_object,
        path_uuid(request),
        yaml_content=body.yaml_content,
        is_deletion_marker=body.is_deletion_marker,
    )
    return json(obj)


async def instantiate(request: Request) -> Response:
    body, _ = await body_as(request, Instantiation)
    obj = await call(
        request,
        templates.instantiate_template,
        path_uuid(request, "stack_id"),
        template_id=body.template_id,
        parameters=body.parameters,
    )
    return json(obj, status=201)


async def stack_health(request: Request) -> Response:
    return json(await call(request, health.stack_health, path_uuid(request)))


routes = [
    Route("/stacks", list_stacks, methods=["GET"]),
    Route("/stacks", create_stack, methods=["POST"]),
    Route("/stacks/{id}", get_stack, methods=["GET"]),
    Route("/stacks/{id}", update_stack, methods=["PUT"]),
    Route("/stacks/{id}", delete_stack, methods=["DELETE"]),
    Route("/stacks/{id}/labels", list_labels, methods=["GET"]),
    Route("/stacks/{id}/labels", add_label, methods=["POST"]),
    Route("/stacks/{id}/labels/{label}", remove_label, methods=["DELETE"]),
    Route("/stacks/{id}/annotations", list_annotations, methods=["GET"]),
    Route("/stacks/{id}/annotations", add_annotation, methods=["POST"]),
    Route("/stacks/{id}/annotations/{key}", remove_annotation, methods=["DELETE"]),
    Route("/stacks/{id}/deployment-objects", list_objects, methods=["GET"]),
    Route("/stacks/{id}/deployment-objects", create_object, methods=["POST"]),
    Route("/stacks/{stack_id}/deployment-objects/from-template", instantiate, methods=["POST"]),
    Route("/stacks/{id}/health", stack_health, methods=["GET"]),
]
