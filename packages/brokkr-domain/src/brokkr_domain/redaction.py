"""Scrubbing secrets out of text before it is logged.

Neither app may ever log a PAK, an ``Authorization`` value or a secret carried in a URL (credentials or query
string). Both apps install a logging filter that runs every line through :func:`redact`.
"""

from __future__ import annotations

import logging
import re

_PAK = re.compile(r"\b[A-Za-z0-9]+_[1-9A-HJ-NP-Za-km-z]{4,}_[1-9A-HJ-NP-Za-km-z]{16,}\b")
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)\s+[^\s\"',]+")
_URL_CREDS = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@")
_URL_QUERY = re.compile(r"(?i)(\bhttps?://[^\s?\"']+)\?[^\s\"']*")

LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def redact(text: str) -> str:
    """Replace PAKs, bearer/basic tokens, URL credentials and URL query strings with placeholders."""
    text = _PAK.sub("[REDACTED-PAK]", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} [REDACTED]", text)
    text = _URL_CREDS.sub(r"\1[REDACTED]@", text)
    return _URL_QUERY.sub(r"\1?[REDACTED]", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message and any exception text of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def level_of(name: str) -> int:
    return LEVELS.get(name.lower(), logging.INFO)


__all__ = ["LEVELS", "RedactingFilter", "level_of", "redact"]
