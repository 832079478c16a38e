"""Target-state answers from memory while nothing they are computed from has changed.

Agents poll their target state every few seconds and nearly always get the same answer. The database
notifies every commit that may change any answer (``brokkr_adapters_postgres.notifications``), which gives a
version number; an answer cached under the version that was current *before* its query is served until the
version moves. So a steady fleet's polls cost no query and no serialisation, in every replica, and a change is
seen by the next poll after its commit (plus the notification's delivery, a few milliseconds).

The notification reaches other replicas a few milliseconds after the commit; this process does not wait for it:
``InvalidateOnWrite`` drops every answer when one of its own write requests is answered, so a client that
writes and then reads through the same broker always sees its write. Writes that never touch a target-state
input and come from every agent on every tick (heartbeats, health reports) are exempt, or nothing would stay
cached in a busy fleet.

Deployment objects are immutable, so each is serialised once (``fragments``) and shared by every agent that
gets it; an agent's entry is only the ids of its answer. Both tables are bounded LRUs. Authorization is the
caller's job and happens before any lookup.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from uuid import UUID

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brokkr_broker_app.wire import dump
from brokkr_domain.model import DeploymentObject

Key = tuple[UUID, bool]  # (agent id, full mode)
Version = tuple[int, int]  # (database notifications, this process's own writes)
READS = frozenset({"GET", "HEAD", "OPTIONS"})
QUIET_WRITES = re.compile(r"/agents/[^/]+/(?:heartbeat|health-status)$")


def encode(value: object) -> bytes:
    """JSON exactly as Starlette's ``JSONResponse`` renders it, so cached and fresh answers are byte-equal."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


class TargetStateCache:
    """Bounded caches of answers (per agent and mode) and of serialised deployment objects."""

    def __init__(
        self,
        version: Callable[[], int | None],
        *,
        max_answers: int = 100_000,
        max_objects: int = 20_000,
    ) -> None:
        self._version = version
        self._max_answers = max_answers
        self._max_objects = max_objects
        self._answers: OrderedDict[Key, tuple[Version, tuple[UUID, ...]]] = OrderedDict()
        self._fragments: OrderedDict[UUID, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._writes = 0
        self.hits = 0
        self.misses = 0

    def version(self) -> Version | None:
        """Read this before querying; ``None`` means "do not cache, do not serve from the cache"."""
        notified = self._version()
        return None if notified is None else (notified, self._writes)

    def invalidate(self) -> None:
        """This process changed something: no answer cached so far is served again."""
        with self._lock:
            self._writes += 1

    def lookup(self, agent_id: UUID, full: bool, version: Version | None) -> bytes | None:
        """The cached answer if it was stored under ``version`` and all its objects are still serialised."""
        if version is None:
            return None
        with self._lock:
            entry = self._answers.get((agent_id, full))
            if entry is None or entry[0] != version:
                self.misses += 1
                return None
            parts = [self._fragments.get(object_id) for object_id in entry[1]]
            if any(part is None for part in parts):
                self.misses += 1
                return None
            self._answers.move_to_end((agent_id, full))
            for object_id in entry[1]:
                self._fragments.move_to_end(object_id)
            self.hits += 1
        return b"[" + b",".join(part for part in parts if part is not None) + b"]"

    def render(
        self, agent_id: UUID, full: bool, version: Version | None, objects: Sequence[DeploymentObject]
    ) -> bytes:
        """Serialise a fresh answer (reusing serialised objects) and keep it under ``version``."""
        with self._lock:
            known = {o.id: self._fragments.get(o.id) for o in objects}
        fresh = {o.id: encode(dump(o)) for o in objects if known[o.id] is None}
        parts = [known[o.id] or fresh[o.id] for o in objects]
        if version is not None:
            with self._lock:
                for object_id, fragment in fresh.items():
                    self._fragments[object_id] = fragment
                while len(self._fragments) > self._max_objects:
                    self._fragments.popitem(last=False)
                self._answers[(agent_id, full)] = (version, tuple(o.id for o in objects))
                self._answers.move_to_end((agent_id, full))
                while len(self._answers) > self._max_answers:
                    self._answers.popitem(last=False)
        return b"[" + b",".join(parts) + b"]"


class InvalidateOnWrite:
    """ASGI middleware: a write request of this process invalidates the cache before its answer is sent."""

    def __init__(self, app: ASGIApp, cache: TargetStateCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READS or QUIET_WRITES.search(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_after_invalidating(message: Message) -> None:
            if message["type"] == "http.response.start":  # the write has committed (or failed) by now
                self.cache.invalidate()
            await send(message)

        await self.app(scope, receive, send_after_invalidating)


__all__ = ["InvalidateOnWrite", "TargetStateCache", "Version", "encode"]
