"""Authentication at the edge (contract decision 1) with an optional TTL cache.

Every request under ``/api/v1`` must carry ``Authorization: Bearer <PAK>`` (or the bare PAK). The middleware
resolves it to an ``Actor`` once and stores a ``Caller`` (actor, client address, user agent) in
``request.state.caller``. Failures answer 401 with the JSON error body. Successful lookups are cached by PAK hash for
``auth_cache_ttl_seconds``; rotation and deletion invalidate this replica's entries at once, and other replicas'
entries expire within the TTL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from brokkr_broker_app.errors import error_response, public_message
from brokkr_domain.errors import BrokkrError, TransientError
from brokkr_domain.model import Actor, Caller
from brokkr_domain.usecases.auth import hash_of_header
from brokkr_domain.usecases.context import Services

log = logging.getLogger("brokkr.broker")

API_PREFIX = "/api/v1"


class AuthCache:
    """PAK hash → actor, bounded and expiring; thread-safe."""

    def __init__(
        self, ttl_seconds: float, max_entries: int = 10_000, now: Callable[[], float] = time.monotonic
    ):
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._now = now
        self._entries: OrderedDict[str, tuple[float, Actor]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, pak_hash: str) -> Actor | None:
        if self.ttl <= 0:
            return None
        with self._lock:
            hit = self._entries.get(pak_hash)
            if hit is None:
                return None
            expires, actor = hit
            if expires <= self._now():
                del self._entries[pak_hash]
                return None
            return actor

    def put(self, pak_hash: str, actor: Actor) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._entries[pak_hash] = (self._now() + self.ttl, actor)
            self._entries.move_to_end(pak_hash)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def invalidate_actor(self, actor_id: UUID | None, *, admin: bool = False) -> None:
        """Forget every cached key of this actor (after rotation or deletion)."""
        with self._lock:
            for key in [
                k
                for k, (_, a) in self._entries.items()
                if (admin and a.is_admin) or (actor_id is not None and a.id == actor_id)
            ]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


Authenticator = Callable[[str | None], Actor]


class AuthMiddleware:
    """Pure ASGI middleware guarding ``/api/v1`` (the spec document itself stays public)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticate: Authenticator,
        cache: AuthCache,
        on_failure: Services | None = None,
    ) -> None:
        self.app = app
        self.authenticate = authenticate
        self.cache = cache
        self.services = on_failure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not path.startswith(API_PREFIX)
            or path == f"{API_PREFIX}/openapi.json"
            or scope.get("method") == "OPTIONS"
        ):
            await self.app(scope, receive, send)
            return
        header: str | None = None
        user_agent: str | None = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value.decode("latin-1")
            elif name == b"user-agent":
                user_agent = value.decode("latin-1")[:512]
        try:
            actor = await self._resolve(header)
        except BrokkrError as exc:
            status = 503 if isinstance(exc, TransientError) else 401
            code = exc.code if status == 503 else "unauthorized"
            if status == 401 and self.services is not None:
                client = scope.get("client")
                failed = Caller(
                    actor=Actor.system(), ip_address=client[0] if client else None, user_agent=user_agent
                )
                self.services.audit_entry(
                    failed, "auth.failed", "pak", None, {"path": path, "reason": exc.message}
                )
            if status == 503:
                log.warning("cannot authenticate %s: %s", path, exc.message)
            await error_response(status, code, public_message(exc, status))(scope, receive, send)
            return
        client = scope.get("client")
        caller = Caller(actor=actor, ip_address=client[0] if client else None, user_agent=user_agent)
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)

    async def _resolve(self, header: str | None) -> Actor:
        pak_hash = hash_of_header(header)
        cached = self.cache.get(pak_hash)
        if cached is not None:
            return cached
        actor = await run_in_threadpool(self.authenticate, header)
        self.cache.put(pak_hash, actor)
        return actor
