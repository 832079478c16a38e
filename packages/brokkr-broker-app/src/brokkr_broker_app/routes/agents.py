"""Agents and their labels, annotations, targets, events, heartbeat, target state and stacks."""

from __future__ import annotations

from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from brokkr_broker_app.routes._http import body_as, call, caller_of, frozen, json, no_content, present
from brokkr_broker_app.target_state_cache import TargetStateCache
from brokkr_broker_app.wire import parse_body, path_uuid
from brokkr_domain.usecases import agent_events, agents
from brokkr_domain.usecases._authz import require_admin_or_agent, require_same_id


@frozen
class NewAgent:
    name: str
    cluster_name: str


@frozen
class AgentUpdate:
    id: UUID | None = None  # clients that send the whole Agent back repeat its id
    name: str | None = None
    cluster_name: str | None = None
    status: str | None = None


@frozen
class NewLabel:
    label: str
    agent_id: UUID | None = None


@frozen
class NewAnnotation:
    key: str
    value: str
    agent_id: UUID | None = None


@frozen
class NewTarget:
    stack_id: UUID
    agent_id: UUID | None = None


@frozen
class NewEvent:
    deployment_object_id: UUID
    event_type: str
    status: str
    message: str | None = None
    agent_id: UUID | None = None


async def list_agents(request: Request) -> Response:
    return json(await call(request, agents.list_agents))


async def create_agent(request: Request) -> Response:
    body = await parse_body(request, NewAgent)
    agent, pak = await call(request, agents.create_agent, name=body.name, cluster_name=body.cluster_name)
    return json({"agent": agent, "initial_pak": pak})


async def search_agent(request: Request) -> Response:
    q = request.query_params
    return json(
        await call(request, agents.find_agent, name=q.get("name"), cluster_name=q.get("cluster_name"))
    )


async def get_agent(request: Request) -> Response:
    return json(await call(request, agents.get_agent, path_uuid(request)))


async def update_agent(request: Request) -> Response:
    agent_id = path_uuid(request)
    body, raw = await body_as(request, AgentUpdate)
    require_same_id(agent_id, body.id, field="id", code="agent_id_mismatch")
    fields = {
        k: v for k, v in present(raw, body, ("name", "cluster_name", "status")).items() if v is not None
    }
    return json(await call(request, agents.update_agent, agent_id, **fields))


async def delete_agent(request: Request) -> Response:
    agent_id = path_uuid(request)
    await call(request, agents.delete_agent, agent_id)
    request.app.state.auth_cache.invalidate_actor(agent_id)
    return no_content()


async def heartbeat(request: Request) -> Response:
    await call(request, agents.heartbeat, path_uuid(request))
    return no_content()


async def target_state(request: Request) -> Response:
    """The hot path of every agent: served from ``TargetStateCache`` while the database reports no change."""
    agent_id = path_uuid(request)
    mode = request.query_params.get("mode")
    require_admin_or_agent(caller_of(request), agent_id)  # before any lookup: the cache knows every agent
    cache: TargetStateCache = request.app.state.target_state_cache
    full = mode == "full"
    version = cache.version()  # before the query: a change committed after it moves it (see the cache)
    body = cache.lookup(agent_id, full, version)
    source = "cache"
    if body is None:
        objects = await call(request, agents.get_target_state, agent_id, mode)
        body = await run_in_threadpool(cache.render, agent_id, full, version, objects)
        source = "database"
    request.app.state.metrics.target_state_answers.labels(source=source).inc()
    return Response(body, media_type="application/json")


async def associated_stacks(request: Request) -> Response:
    return json(await call(request, agents.associated_stacks, path_uuid(request)))


async def rotate_pak(request: Request) -> Response:
    agent, pak = await call(request, agents.rotate_agent_pak, path_uuid(request))
    request.app.state.auth_cache.invalidate_actor(agent.id)
    return json({"agent": agent, "pak": pak})


async def list_labels(request: Request) -> Response:
    return json(await call(request, agents.list_agent_labels, path_uuid(request)))


async def add_label(request: Request) -> Response:
    body = await parse_body(request, NewLabel)
    label = await call(
        request, agents.add_agent_label, path_uuid(request), body.label, body_agent_id=body.agent_id
    )
    return json(label)


async def remove_label(request: Request) -> Response:
    await call(request, agents.remove_agent_label, path_uuid(request), request.path_params["label"])
    return no_content()


async def list_annotations(request: Request) -> Response:
    return json(await call(request, agents.list_agent_annotations, path_uuid(request)))


async def add_annotation(request: Request) -> Response:
    body = await parse_body(request, NewAnnotation)
    return json(
        await call(
            request,
            agents.add_agent_annotation,
            path_uuid(request),
            key=body.key,
            value=body.value,
            body_agent_id=body.agent_id,
        )
    )


async def remove_annotation(request: Request) -> Response:
    await call(request, agents.remove_agent_annotation, path_uuid(request), request.path_params["key"])
    return no_content()


async def list_targets(request: Request) -> Response:
    return json(await call(request, agents.list_agent_targets, path_uuid(request)))


async def add_target(request: Request) -> Response:
    body = await parse_body(request, NewTarget)
    target = await call(
        request, agents.add_agent_target, path_uuid(request), body.stack_id, body_agent_id=body.agent_id
    )
    return json(target)


async def remove_target(request: Request) -> Response:
    await call(request, agents.remove_agent_target, path_uuid(request), path_uuid(request, "stack_id"))
    return no_content()


async def list_events(request: Request) -> Response:
    return json(await call(request, agent_events.list_agent_events, path_uuid(request)))


async def create_event(request: Request) -> Response:
    body = await parse_body(request, NewEvent)
    event = await call(
        request,
        agent_events.create_agent_event,
        path_uuid(request),
        deployment_object_id=body.deployment_object_id,
        event_type=body.event_type,
        status=body.status,
        message=body.message,
        body_agent_id=body.agent_id,
    )
    return json(event)


async def list_all_events(request: Request) -> Response:
    return json(await call(request, agent_events.list_events))


async def get_event(request: Request) -> Response:
    return json(await call(request, agent_events.get_event, path_uuid(request)))


routes = [
    Route("/agents", list_agents, methods=["GET"]),
    Route("/agents", create_agent, methods=["POST"]),
    Route("/agents/", search_agent, methods=["GET"]),
    Route("/agents/{id}", get_agent, methods=["GET"]),
    Route("/agents/{id}", update_agent, methods=["PUT"]),
    Route("/agents/{id}", delete_agent, methods=["DELETE"]),
    Route("/agents/{id}/heartbeat", heartbeat, methods=["POST"]),
    Route("/agents/{id}/target-state", target_state, methods=["GET"]),
    Route("/agents/{id}/stacks", associated_stacks, methods=["GET"]),
    Route("/agents/{id}/rotate-pak", rotate_pak, methods=["POST"]),
    Route("/agents/{id}/labels", list_labels, methods=["GET"]),
    Route("/agents/{id}/labels", add_label, methods=["POST"]),
    Route("/agents/{id}/labels/{label}", remove_label, methods=["DELETE"]),
    Route("/agents/{id}/annotations", list_annotations, methods=["GET"]),
    Route("/agents/{id}/annotations", add_annotation, methods=["POST"]),
    Route("/agents/{id}/annotations/{key}", remove_annotation, methods=["DELETE"]),
    Route("/agents/{id}/targets", list_targets, methods=["GET"]),
    Route("/agents/{id}/targets", add_target, methods=["POST"]),
    Route("/agents/{id}/targets/{stack_id}", remove_target, methods=["DELETE"]),
    Route("/agents/{id}/events", list_events, methods=["GET"]),
    Route("/agents/{id}/events", create_event, methods=["POST"]),
    Route("/agent-events", list_all_events, methods=["GET"]),
    Route("/agent-events/{id}", get_event, methods=["GET"]),
]
