"""Structured logging: text or JSON, one line per request, and a redaction filter for secrets.

No PAK, URL secret or Authorization value may reach a log line: a filter on the root handler rewrites anything that
looks like a PAK (``prefix_short_long``), a bearer token, or credentials/query strings in URLs.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from starlette.types import Scope

from brokkr_domain.redaction import RedactingFilter, level_of


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        if record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            base += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return base


def configure_logging(level: str, fmt: str, stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    apply_log_level(level)
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True
    return handler


def apply_log_level(level: str) -> None:
    value = level_of(level)
    logging.getLogger().setLevel(value)
    logging.getLogger("brokkr").setLevel(value)


class RequestLogger:
    """One line per request: method, normalised path, status, duration and the caller's kind (never its key)."""

    def __init__(self) -> None:
        self.log = logging.getLogger("brokkr.broker.http")

    def __call__(self, scope: Scope, method: str, endpoint: str, status: int, elapsed: float) -> None:
        if not self.log.isEnabledFor(logging.INFO):
            return
        caller = scope.get("state", {}).get("caller")
        actor = caller.actor.kind.value if caller is not None else "anonymous"
        self.log.info(
            "%s %s %d",
            method,
            endpoint,
            status,
            extra={
                "fields": {
                    "method": method,
                    "path": endpoint,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "actor": actor,
                }
            },
        )
