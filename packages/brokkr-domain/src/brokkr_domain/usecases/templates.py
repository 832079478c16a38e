"""Stack-template use cases: versioned templates, their labels and annotations, and instantiation into stacks.

Ownership and access (the reference's rules): the admin creates *system* templates (no owner) and may read and
change every template; a generator creates templates it owns, reads system templates and its own, and changes
only its own; agents have no business with templates (403 before any lookup).

Versioning: templates form families by (owner, name). Creating and updating both add a row whose version is
one more than the highest live version of the family, so every version keeps its own id and stays
instantiable. An update copies the old version's labels and annotations to the new one (v0.4.0 dropped them,
so a relabelled template silently stopped matching the stacks it was meant for). Two concurrent writers of one
family get a 409 (the unique version constraint), never a duplicate version.

Instantiation checks, in this order: the caller may write the stack and read the template; every template
label and annotation pair is on the stack (422 ``template_stack_mismatch`` listing what is missing); the
parameters satisfy the template's JSON Schema (400 ``invalid_parameters``); the template renders to valid
Kubernetes YAML (400 ``template_render_failed``). The result is an ordinary deployment object plus its
provenance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

import attrs

from brokkr_domain.checksum import template_checksum
from brokkr_domain.errors import ForbiddenError, NotFoundError, UnprocessableError, ValidationError
from brokkr_domain.labels import validate_annotation
from brokkr_domain.model import (
    Caller,
    DeploymentObject,
    RenderedProvenance,
    StackTemplate,
    TemplateAnnotation,
    TemplateLabel,
)
from brokkr_domain.ports import UnitOfWork
from brokkr_domain.rules.targeting import match_template
from brokkr_domain.templating import (
    check_parameters_schema,
    check_template_syntax,
    render_template,
    validate_parameters,
)
from brokkr_domain.usecases._authz import check_label, load_stack_for, optional_text, require_text
from brokkr_domain.usecases.context import Services
from brokkr_domain.usecases.stacks import add_deployment_object, check_yaml_content

RESOURCE = "template"
NAME_MAX = 255
CONTENT_MAX = 1024 * 1024  # characters; the templating module bounds bytes too


# --- access -----------------------------------------------------------------------------------------------


def _require_template_user(caller: Caller, code: str) -> None:
    """Templates are for the admin and generators; agents are refused before any lookup."""
    actor = caller.actor
    if not (actor.is_admin or actor.is_generator()):
        raise ForbiddenError("only the admin and generators work with templates", code=code)


def _load(uow: UnitOfWork, template_id: UUID) -> StackTemplate:
    template = uow.templates.get(template_id)
    if template is None:
        raise NotFoundError(
            f"template {template_id} not found", code="template_not_found", details={"id": str(template_id)}
        )
    return template


def _load_readable(uow: UnitOfWork, caller: Caller, template_id: UUID) -> StackTemplate:
    """A live template the caller may read: any for the admin, system or own ones for a generator."""
    _require_template_user(caller, "template_not_accessible")
    template = _load(uow, template_id)
    actor = caller.actor
    if actor.is_admin or template.is_system or actor.is_generator(template.generator_id):
        return template
    raise ForbiddenError(
        "a generator may read system templates and its own only",
        code="template_not_accessible",
        details={"id": str(template_id)},
    )


def _load_modifiable(uow: UnitOfWork, caller: Caller, template_id: UUID) -> StackTemplate:
    """A live template the caller may change: any for the admin, only its own for a generator."""
    _require_template_user(caller, "template_not_owned")
    template = _load(uow, template_id)
    actor = caller.actor
    if actor.is_admin or (not template.is_system and actor.is_generator(template.generator_id)):
        return template
    raise ForbiddenError(
        "only the admin or the generator that owns this template may change it",
        code="template_not_owned",
        details={"id": str(template_id)},
    )


# --- templates --------------------------------------------------------------------------------------------


def list_templates(s: Services, caller: Caller) -> list[StackTemplate]:
    """Every live version the caller may read."""
    _require_template_user(caller, "templates_not_accessible")
    actor = caller.actor
    with s.uow() as uow:
        if actor.is_admin:
            return uow.templates.list()
        return uow.templates.list(visible_to_generator=actor.id)


def _check_content(template_content: str, parameters_schema: str) -> None:
    if not template_content.strip():
        raise ValidationError(
            "template_content must not be blank",
            code="invalid_template_syntax",
            details={"field": "template_content"},
        )
    check_template_syntax(template_content)
    if not parameters_schema.strip():
        raise ValidationError(
            "parameters_schema must not be blank",
            code="invalid_parameters_schema",
            details={"field": "parameters_schema"},
        )
    check_parameters_schema(parameters_schema)


def _add_version(
    uow: UnitOfWork,
    s: Services,
    *,
    generator_id: UUID | None,
    name: str,
    description: str | None,
    template_content: str,
    parameters_schema: str,
) -> StackTemplate:
    now = s.clock.now()
    return uow.templates.add(
        StackTemplate(
            id=s.ids.new_id(),
            generator_id=generator_id,
            name=name,
            description=description,
            version=uow.templates.max_version(generator_id, name) + 1,
            template_content=template_content,
            parameters_schema=parameters_schema,
            checksum=template_checksum(template_content),
            created_at=now,
            updated_at=now,
        )
    )


def create_template(
    s: Services,
    caller: Caller,
    *,
    name: str,
    template_content: str,
    parameters_schema: str,
    description: str | None = None,
) -> StackTemplate:
    """A new version of the caller's (owner, name) family: version 1, or one more than the latest live one.

    400 ``invalid_template_syntax`` / ``invalid_parameters_schema`` / ``invalid_name`` /
    ``invalid_description``.
    """
    _require_template_user(caller, "templates_not_accessible")
    require_text(name, "name", max_length=NAME_MAX)
    optional_text(description, "description")
    _check_content(template_content, parameters_schema)
    actor = caller.actor
    owner = None if actor.is_admin else actor.id
    with s.uow() as uow:
        template = _add_version(
            uow,
            s,
            generator_id=owner,
            name=name,
            description=description,
            template_content=template_content,
            parameters_schema=parameters_schema,
        )
        uow.commit()
    s.audit_entry(caller, "template.created", RESOURCE, template.id, _audit_details(template))
    return template


def _audit_details(template: StackTemplate) -> dict[str, Any]:
    owner = str(template.generator_id) if template.generator_id is not None else None
    return {"name": template.name, "version": template.version, "generator_id": owner}


def get_template(s: Services, caller: Caller, template_id: UUID) -> StackTemplate:
    with s.uow() as uow:
        return _load_readable(uow, caller, template_id)


def update_template(
    s: Services,
    caller: Caller,
    template_id: UUID,
    *,
    template_content: str,
    parameters_schema: str,
    description: str | None = None,
) -> StackTemplate:
    """Add the next version of the template's family (new id); the old version stays as it was.

    ``description`` defaults to the old one; labels and annotations are carried over to the new version.
    """
    optional_text(description, "description")
    _check_content(template_content, parameters_schema)
    with s.uow() as uow:
        old = _load_modifiable(uow, caller, template_id)
        new = _add_version(
            uow,
            s,
            generator_id=old.generator_id,
            name=old.name,
            description=description if description is not None else old.description,
            template_content=template_content,
            parameters_schema=parameters_schema,
        )
        for label in uow.templates.list_labels(old.id):
            uow.templates.add_label(attrs.evolve(label, id=s.ids.new_id(), template_id=new.id))
        for annotation in uow.templates.list_annotations(old.id):
            uow.templates.add_annotation(attrs.evolve(annotation, id=s.ids.new_id(), template_id=new.id))
        uow.commit()
    s.audit_entry(
        caller, "template.updated", RESOURCE, new.id, _audit_details(new) | {"previous_id": str(old.id)}
    )
    return new


def delete_template(s: Services, caller: Caller, template_id: UUID) -> None:
    """Soft-delete this version only (others of the family stay; deployment objects keep their provenance)."""
    with s.uow() as uow:
        template = _load_modifiable(uow, caller, template_id)
        uow.templates.soft_delete(template_id, s.clock.now())
        uow.commit()
    s.audit_entry(caller, "template.deleted", RESOURCE, template_id, _audit_details(template))


# --- labels and annotations -------------------------------------------------------------------------------


def list_template_labels(s: Services, caller: Caller, template_id: UUID) -> list[TemplateLabel]:
    with s.uow() as uow:
        _load_readable(uow, caller, template_id)
        return uow.templates.list_labels(template_id)


def add_template_label(s: Services, caller: Caller, template_id: UUID, label: str) -> TemplateLabel:
    """400 ``invalid_label``; 409 when the template already has it."""
    check_label(label)
    with s.uow() as uow:
        _load_modifiable(uow, caller, template_id)
        row = uow.templates.add_label(
            TemplateLabel(id=s.ids.new_id(), template_id=template_id, label=label, created_at=s.clock.now())
        )
        uow.commit()
    s.audit_entry(caller, "template.label_added", RESOURCE, template_id, {"label": label})
    return row


def remove_template_label(s: Services, caller: Caller, template_id: UUID, label: str) -> None:
    with s.uow() as uow:
        _load_modifiable(uow, caller, template_id)
        if not uow.templates.remove_label(template_id, label):
            raise NotFoundError(
                f"template {template_id} has no label {label!r}",
                code="template_label_not_found",
                details={"id": str(template_id), "label": label},
            )
        uow.commit()
    s.audit_entry(caller, "template.label_removed", RESOURCE, template_id, {"label": label})


def list_template_annotations(s: Services, caller: Caller, template_id: UUID) -> list[TemplateAnnotation]:
    with s.uow() as uow:
        _load_readable(uow, caller, template_id)
        return uow.templates.list_annotations(template_id)


def add_template_annotation(
    s: Services, caller: Caller, template_id: UUID, *, key: str, value: str
) -> TemplateAnnotation:
    """400 ``invalid_annotation``; 409 when the template already has that key (one value per key)."""
    validate_annotation(key, value)
    with s.uow() as uow:
        _load_modifiable(uow, caller, template_id)
        row = uow.templates.add_annotation(
            TemplateAnnotation(
                id=s.ids.new_id(), template_id=template_id, key=key, value=value, created_at=s.clock.now()
            )
        )
        uow.commit()
    s.audit_entry(caller, "template.annotation_added", RESOURCE, template_id, {"key": key, "value": value})
    return row


def remove_template_annotation(s: Services, caller: Caller, template_id: UUID, key: str) -> None:
    with s.uow() as uow:
        _load_modifiable(uow, caller, template_id)
        if not uow.templates.remove_annotation(template_id, key):
            raise NotFoundError(
                f"template {template_id} has no annotation {key!r}",
                code="template_annotation_not_found",
                details={"id": str(template_id), "key": key},
            )
        uow.commit()
    s.audit_entry(caller, "template.annotation_removed", RESOURCE, template_id, {"key": key})


# --- instantiation ----------------------------------------------------------------------------------------


def _require_match(uow: UnitOfWork, template: StackTemplate, stack_id: UUID) -> None:
    match = match_template(
        [row.label for row in uow.templates.list_labels(template.id)],
        [(row.key, row.value) for row in uow.templates.list_annotations(template.id)],
        [row.label for row in uow.stacks.list_labels(stack_id)],
        [(row.key, row.value) for row in uow.stacks.list_annotations(stack_id)],
    )
    if match.matches:
        return
    raise UnprocessableError(
        "the stack lacks labels or annotations the template requires",
        code="template_stack_mismatch",
        details={
            "missing_labels": list(match.missing_labels),
            "missing_annotations": [{"key": key, "value": value} for key, value in match.missing_annotations],
        },
    )


def _render(template: StackTemplate, parameters: Mapping[str, Any]) -> str:
    """Validate the parameters against the schema, render, and check the output is deployable YAML."""
    validate_parameters(check_parameters_schema(template.parameters_schema), parameters)
    rendered = render_template(template.template_content, parameters)
    try:
        check_yaml_content(rendered)
    except ValidationError as exc:
        raise ValidationError(
            f"the rendered template is not a usable deployment object: {exc.message}",
            code="template_render_failed",
            details={"cause": exc.code, **exc.details},
        ) from exc
    return rendered


def instantiate_template(
    s: Services, caller: Caller, stack_id: UUID, *, template_id: UUID, parameters: Any
) -> DeploymentObject:
    """Render a template version with ``parameters`` into a new deployment object of the stack (HTTP 201).

    The exact version given is used (not the family's latest). Emits ``deployment.created`` like a pushed
    object and records the provenance (template id, version, parameters).
    """
    with s.uow() as uow:
        load_stack_for(uow, caller, stack_id, "write")
        template = _load_readable(uow, caller, template_id)
        _require_match(uow, template, stack_id)
        if not isinstance(parameters, Mapping):
            raise ValidationError(
                "parameters must be a JSON object",
                code="invalid_parameters",
                details={"validation_errors": ["/: parameters must be a JSON object"]},
            )
        rendered = _render(template, parameters)
        obj = add_deployment_object(uow, s, stack_id, rendered)
        uow.deployment_objects.add_provenance(
            RenderedProvenance(
                id=s.ids.new_id(),
                deployment_object_id=obj.id,
                template_id=template.id,
                template_version=template.version,
                template_parameters=dict(parameters),
                created_at=obj.created_at,
            )
        )
        uow.commit()
    s.audit_entry(
        caller,
        "deployment_object.created",
        "deployment_object",
        obj.id,
        {
            "stack_id": str(stack_id),
            "sequence_id": obj.sequence_id,
            "template_id": str(template.id),
            "template_version": template.version,
        },
    )
    return obj


__all__ = [
    "add_template_annotation",
    "add_template_label",
    "create_template",
    "delete_template",
    "get_template",
    "instantiate_template",
    "list_template_annotations",
    "list_template_labels",
    "list_templates",
    "remove_template_annotation",
    "remove_template_label",
    "update_template",
]
