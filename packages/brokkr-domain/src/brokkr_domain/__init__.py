"""Brokkr's pure domain: entities, rules, ports and use cases, with no I/O.

Subpackages: ``model`` (entities), ``rules`` (pure rules and state machines), ``ports`` (Protocols the adapters
implement), ``usecases`` (broker operations), ``agent`` (agent operations), ``testing`` (in-memory adapters,
fakes, strategies and contract suites; needs the ``testing`` extra). The names below are the most used ones.
"""

from brokkr_domain.checksum import template_checksum, yaml_checksum
from brokkr_domain.errors import (
    BrokkrError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    TransientError,
    UnauthorizedError,
    UnprocessableError,
    ValidationError,
)
from brokkr_domain.manifests import KubeObject, ObjectRef, order_for_apply, parse_manifests
from brokkr_domain.pak import PakSettings, generate_pak, hash_pak, parse_pak, verify_pak
from brokkr_domain.settings import ConfigError, Settings, load_settings

__all__ = [
    "BrokkrError",
    "ConfigError",
    "ConflictError",
    "ForbiddenError",
    "KubeObject",
    "NotFoundError",
    "ObjectRef",
    "PakSettings",
    "Settings",
    "TransientError",
    "UnauthorizedError",
    "UnprocessableError",
    "ValidationError",
    "generate_pak",
    "hash_pak",
    "load_settings",
    "order_for_apply",
    "parse_manifests",
    "parse_pak",
    "template_checksum",
    "verify_pak",
    "yaml_checksum",
]
