"""Content checksums of deployment objects and templates.

Both are the lowercase hex SHA-256 of the UTF-8 text, as in the reference, so checksums computed by the
Rust broker (stored in existing rows, stamped on live cluster objects) stay comparable. The agent uses the
deployment object's checksum to tell its current objects from stale ones when pruning, so it must be stable
byte for byte: no normalisation of line endings or whitespace happens here.
"""

from __future__ import annotations

import hashlib


def _sha256_of_text(text: str) -> str:
    # ``surrogatepass``: a lone surrogate (possible in text decoded from JSON) must not make hashing fail.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def yaml_checksum(text: str) -> str:
    """Checksum of a deployment object's ``yaml_content``."""
    return _sha256_of_text(text)


def template_checksum(text: str) -> str:
    """Checksum of a stack template's ``template_content``."""
    return _sha256_of_text(text)


__all__ = ["template_checksum", "yaml_checksum"]
