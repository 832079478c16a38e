"""Watch the config file and reload after it settles (debounced; default 5 s).

Polling the file's modification time and size is portable and cheap (one ``stat`` per second); a change is applied
once no further change has been seen for the debounce period, so editors that write in several steps cause one
reload. ``BROKKR_CONFIG_WATCHER_ENABLED=false`` turns it off; ``BROKKR_CONFIG_WATCHER_DEBOUNCE_SECONDS`` tunes it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from brokkr_domain.model import Caller

log = logging.getLogger("brokkr.broker.config")


def _stamp(path: Path) -> tuple[float, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime, st.st_size)


class ConfigFileWatcher:
    def __init__(
        self,
        path: str,
        reload: Callable[[Caller], object],
        *,
        debounce: float | None = None,
        poll: float = 1.0,
        environ: dict[str, str] | None = None,
    ) -> None:
        env = dict(os.environ) if environ is None else environ
        self.path = Path(path)
        self.reload = reload
        self.enabled = env.get("BROKKR_CONFIG_WATCHER_ENABLED", "true").lower() not in ("false", "0", "no")
        self.debounce = (
            debounce
            if debounce is not None
            else float(env.get("BROKKR_CONFIG_WATCHER_DEBOUNCE_SECONDS", "5"))
        )
        self.poll = poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reloads = 0

    def start(self) -> None:
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="config-watcher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        seen = _stamp(self.path)
        changed_at: float | None = None
        while not self._stop.wait(self.poll):
            now_stamp = _stamp(self.path)
            if now_stamp != seen:
                seen = now_stamp
                changed_at = time.monotonic()
                continue
            if changed_at is not None and time.monotonic() - changed_at >= self.debounce:
                changed_at = None
                try:
                    self.reload(Caller.system())
                    self.reloads += 1
                except Exception:  # a bad edit must not kill the watcher; the old settings stay in force
                    log.exception("config reload from %s failed; keeping the current settings", self.path)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
