"""Heartbeats that arrive together are written together: group commit for the fleet's most frequent write.

Every agent sends a heartbeat every few seconds, so a busy broker receives many at once, each one UPDATE of
one row. ``HeartbeatGroup`` lets the first caller write its heartbeat at once; callers that arrive while a
write is on its way wait and are written by the next caller to go, all in one statement. Nobody is answered
before their heartbeat is committed, and each caller learns exactly what happened to its own heartbeat (its
agent was live, or not; the database failed). An idle broker writes each heartbeat alone, with no added wait;
a busy one writes one statement per round trip instead of one per heartbeat.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from brokkr_domain.ports import UnitOfWork


class _Batch:
    __slots__ = ("beats", "done", "error", "live")

    def __init__(self) -> None:
        self.beats: dict[UUID, datetime] = {}
        self.done = False
        self.live: frozenset[UUID] = frozenset()
        self.error: BaseException | None = None


class HeartbeatGroup:
    """Records heartbeats through units of work from ``unit_of_work``, one statement per group."""

    def __init__(self, unit_of_work: Callable[[], UnitOfWork]) -> None:
        self._unit_of_work = unit_of_work
        self._changed = threading.Condition()
        self._open = _Batch()  # where arriving heartbeats join
        self._writing = False
        self.writes = 0  # statements sent (tests and benchmarks compare it with the heartbeats)

    @property
    def queued(self) -> int:
        """Heartbeats waiting for the write on its way to end."""
        with self._changed:
            return len(self._open.beats)

    def record(self, agent_id: UUID, at: datetime) -> bool:
        """Write ``at`` as the agent's last heartbeat; False when no live agent has that id.

        Raises what the write raised (a ``TransientError`` when the database is unavailable)."""
        with self._changed:
            batch = self._open
            if batch.beats.get(agent_id, at) <= at:  # the same agent twice in a group: the later time wins
                batch.beats[agent_id] = at
            while not batch.done and (self._writing or self._open is not batch):
                self._changed.wait()
            leading = not batch.done
            if leading:  # nothing is being written and this group is still open: write it
                self._writing = True
                self._open = _Batch()
        if leading:
            try:
                with self._unit_of_work() as uow:
                    batch.live = uow.agents.touch_heartbeats(batch.beats)
                    uow.commit()
            except BaseException as exc:
                batch.error = exc
            with self._changed:
                self.writes += 1
                batch.done = True
                self._writing = False
                self._changed.notify_all()  # its members leave; one of the next group's members leads
        if batch.error is not None:
            raise batch.error
        return agent_id in batch.live


__all__ = ["HeartbeatGroup"]
