"""``POST /auth/pak``: which identity does this key belong to?"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from brokkr_broker_app.routes._http import caller_of, json
from brokkr_domain.usecases.auth import whoami


async def verify_pak(request: Request) -> Response:
    info = whoami(caller_of(request))
    return json({"admin": info.admin, "agent": info.agent, "generator": info.generator})


routes = [Route("/auth/pak", verify_pak, methods=["POST"])]
