"""Reading the audit log, and its retention.

Entries are *written* through ``Services.audit_entry`` (the broker batches them into the log); this module
only answers the admin's query and trims old entries. Paging follows the reference: ``limit`` defaults to 100
and is clamped to 1000 (the response echoes the clamped value, so a client sees what it got), ``offset``
starts at 0. Unlike v0.4.0, a negative limit or offset and an unknown actor type are 400s rather than database
errors or silently empty pages.
"""

from __future__ import annotations

from datetime import timedelta

import attrs

from brokkr_domain.errors import ValidationError
from brokkr_domain.model import ActorType, AuditEntry, Caller
from brokkr_domain.ports import AuditQuery
from brokkr_domain.usecases._authz import require_admin
from brokkr_domain.usecases._authz_ops import check_limit, check_offset
from brokkr_domain.usecases.context import Services

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_ACTOR_TYPES = frozenset(kind.value for kind in ActorType)


@attrs.frozen(kw_only=True)
class AuditPage:
    """One page of the audit log: ``total`` counts every match, ``count`` the entries on this page."""

    logs: list[AuditEntry]
    total: int
    count: int
    limit: int
    offset: int


def query_audit_logs(s: Services, caller: Caller, query: AuditQuery) -> AuditPage:
    """Matching entries newest first; ``action`` ending in ``*`` matches by prefix (``agent.*``)."""
    require_admin(caller)
    limit = check_limit(query.limit, maximum=MAX_LIMIT, clamp=True)
    offset = check_offset(query.offset)
    if query.actor_type is not None and query.actor_type not in _ACTOR_TYPES:
        raise ValidationError(
            f"actor_type must be one of {sorted(_ACTOR_TYPES)}, got {query.actor_type!r}",
            code="invalid_query",
            details={"field": "actor_type"},
        )
    effective = attrs.evolve(query, limit=limit, offset=offset)
    with s.uow() as uow:
        logs, total = uow.audit.query(effective)
    return AuditPage(logs=logs, total=total, count=len(logs), limit=limit, offset=offset)


def run_audit_retention(s: Services, retention_days: int) -> int:
    """Delete entries older than ``retention_days`` (by ``created_at``); returns how many went.

    Called by the broker's daily task. Not itself audited: it would add an entry to the log it trims on every
    run, and the retention period is configuration, visible where it is set.
    """
    if isinstance(retention_days, bool) or retention_days < 1:
        raise ValidationError(
            f"retention_days must be at least 1, got {retention_days!r}",
            code="invalid_retention",
            details={"field": "retention_days"},
        )
    cutoff = s.clock.now() - timedelta(days=retention_days)
    with s.uow() as uow:
        deleted = uow.audit.delete_before(cutoff)
        uow.commit()
    return deleted


__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "AuditPage", "query_audit_logs", "run_audit_retention"]
