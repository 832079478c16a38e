"""Batched audit writer: at most 100 entries or 1 s per insert; flushed on shutdown.

Use cases call ``record`` (never blocking on the database); a background thread writes batches through its own
unit of work. A failed batch is retried on the next flush (kept in order, bounded by ``max_buffer``) so a short
database outage loses nothing; only overflowing the buffer drops the oldest entries, and that is logged.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from brokkr_domain.model import AuditEntry
from brokkr_domain.ports import UnitOfWorkFactory

log = logging.getLogger("brokkr.audit")


class BatchedAuditWriter:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        batch_size: int = 100,
        flush_interval: float = 1.0,
        max_buffer: int = 10_000,
    ) -> None:
        self._uow = uow
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self._buffer: deque[AuditEntry] = deque()
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # one flush at a time: a batch is written, then removed
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.written = 0

    def record(self, entry: AuditEntry) -> None:
        with self._lock:
            if len(self._buffer) >= self.max_buffer:
                self._buffer.popleft()
                self.dropped += 1
                log.error("audit buffer full: dropped the oldest entry")
            self._buffer.append(entry)
            full = len(self._buffer) >= self.batch_size
        if full:
            self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write everything buffered now; returns how many entries were written.

        Serialised: the writer thread and an explicit flush (shutdown, tests) must not both insert the batch
        at the head of the buffer before either has removed it.
        """
        with self._flushing:
            return self._flush_buffer()

    def _flush_buffer(self) -> int:
        written = 0
        while True:
            with self._lock:
                batch = [self._buffer[i] for i in range(min(self.batch_size, len(self._buffer)))]
            if not batch:
                return written
            try:
                with self._uow() as uow:
                    uow.audit.add_many(batch)
                    uow.commit()
            except Exception:  # the database may be down: keep the entries for the next flush
                log.warning("audit flush failed; %d entries kept for retry", len(batch), exc_info=True)
                return written
            with self._lock:  # an overflow may have dropped some of the batch meanwhile: remove what is left
                done = {id(entry) for entry in batch}
                while self._buffer and id(self._buffer[0]) in done:
                    self._buffer.popleft()
            written += len(batch)
            self.written += len(batch)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.flush()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._buffer)
