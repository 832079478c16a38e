"""Stack templates: versioned, labelled, rendered into stacks (instantiation lives with the stacks' routes)."""

from __future__ import annotations

from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from brokkr_broker_app.routes._http import call, frozen, json, label_body, no_content
from brokkr_broker_app.wire import parse_body, path_uuid
from brokkr_domain.usecases import templates
from brokkr_domain.usecases._authz import require_same_id


@frozen
class NewTemplate:
    name: str
    template_content: str
    parameters_schema: str
    description: str | None = None


@frozen
class TemplateUpdate:
    template_content: str
    parameters_schema: str
    description: str | None = None


@frozen
class NewAnnotation:
    key: str
    value: str
    template_id: UUID | None = None  # the spec's NewTemplateAnnotation repeats the path id


async def list_templates(request: Request) -> Response:
    return json(await call(request, templates.list_templates))


async def create_template(request: Request) -> Response:
    body = await parse_body(request, NewTemplate)
    created = await call(
        request,
        templates.create_template,
        name=body.name,
        template_content=body.template_content,
        parameters_schema=body.parameters_schema,
        description=body.description,
    )
    return json(created, status=201)


async def get_template(request: Request) -> Response:
    return json(await call(request, templates.get_template, path_uuid(request)))


async def update_template(request: Request) -> Response:
    body = await parse_body(request, TemplateUpdate)
    updated = await call(
        request,
        templates.update_template,
        path_uuid(request),
        template_content=body.template_content,
        parameters_schema=body.parameters_schema,
        description=body.description,
    )
    return json(updated)


async def delete_template(request: Request) -> Response:
    await call(request, templates.delete_template, path_uuid(request))
    return no_content()


async def list_labels(request: Request) -> Response:
    return json(await call(request, templates.list_template_labels, path_uuid(request)))


async def add_label(request: Request) -> Response:
    template_id = path_uuid(request)
    label = await label_body(request, "template_id", template_id)
    return json(await call(request, templates.add_template_label, template_id, label))


async def remove_label(request: Request) -> Response:
    await call(request, templates.remove_template_label, path_uuid(request), request.path_params["label"])
    return no_content()


async def list_annotations(request: Request) -> Response:
    return json(await call(request, templates.list_template_annotations, path_uuid(request)))


async def add_annotation(request: Request) -> Response:
    template_id = path_uuid(request)
    body = await parse_body(request, NewAnnotation)
    require_same_id(template_id, body.template_id, field="template_id", code="template_id_mismatch")
    return json(
        await call(request, templates.add_template_annotation, template_id, key=body.key, value=body.value)
    )


async def remove_annotation(request: Request) -> Response:
    await call(request, templates.remove_template_annotation, path_uuid(request), request.path_params["key"])
    return no_content()


routes = [
    Route("/templates", list_templates, methods=["GET"]),
    Route("/templates", create_template, methods=["POST"]),
    Route("/templates/{id}", get_template, methods=["GET"]),
    Route("/templates/{id}", update_template, methods=["PUT"]),
    Route("/templates/{id}", delete_template, methods=["DELETE"]),
    Route("/templates/{id}/labels", list_labels, methods=["GET"]),
    Route("/templates/{id}/labels", add_label, methods=["POST"]),
    Route("/templates/{id}/labels/{label}", remove_label, methods=["DELETE"]),
    Route("/templates/{id}/annotations", list_annotations, methods=["GET"]),
    Route("/templates/{id}/annotations", add_annotation, methods=["POST"]),
    Route("/templates/{id}/annotations/{key}", remove_annotation, methods=["DELETE"]),
]
