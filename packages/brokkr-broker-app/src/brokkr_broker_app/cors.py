"""CORS driven by live settings, so a reload changes origins, methods, headers and max-age at once."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brokkr_broker_app.runtime import LiveSettings


class LiveCorsMiddleware:
    def __init__(self, app: ASGIApp, *, live: LiveSettings) -> None:
        self.app = app
        self.live = live

    def _allowed_origin(self, origin: str) -> str | None:
        origins = self.live.current.cors.allowed_origins
        if "*" in origins:
            return "*"
        return origin if origin in origins else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        cors = self.live.current.cors
        allowed = self._allowed_origin(origin)
        is_preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in headers
        if is_preflight:
            requested = headers["access-control-request-method"].upper()
            methods = {m.upper() for m in cors.allowed_methods}
            if allowed is None or ("*" not in methods and requested not in methods):
                await PlainTextResponse("Disallowed CORS request", status_code=400)(scope, receive, send)
                return
            response = PlainTextResponse(
                "OK",
                headers={
                    "Access-Control-Allow-Origin": allowed,
                    "Access-Control-Allow-Methods": ", ".join(cors.allowed_methods),
                    "Access-Control-Allow-Headers": ", ".join(cors.allowed_headers),
                    "Access-Control-Max-Age": str(cors.max_age_seconds),
                    "Vary": "Origin",
                },
            )
            await response(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start" and allowed is not None:
                raw = list(message.get("headers", []))
                raw.append((b"access-control-allow-origin", allowed.encode("latin-1")))
                raw.append((b"vary", b"Origin"))
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_cors)
