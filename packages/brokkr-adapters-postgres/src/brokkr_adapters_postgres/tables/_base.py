"""Shared pieces of the table definitions: the metadata (with a naming convention) and column helpers."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, MetaData, text
from sqlalchemy.dialects.postgresql import UUID

# PostgreSQL's own default names (``agent_labels_agent_id_label_key``, ``agents_pkey``...): the in-memory
# adapter reports the same names in ``ConflictError.details["constraint"]``
# (brokkr_domain.testing.inmemory.constraints).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

LIVE = text("deleted_at IS NULL")


def id_column() -> Column[object]:
    return Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()"))


def timestamp(name: str, *, nullable: bool = False, default_now: bool = True) -> Column[object]:
    return Column(
        name,
        DateTime(timezone=True),
        nullable=nullable,
        server_default=text("now()") if default_now else None,
    )


def fk(column: str, target: str, *, nullable: bool = False, ondelete: str = "CASCADE") -> Column[object]:
    return Column(column, UUID(as_uuid=True), ForeignKey(target, ondelete=ondelete), nullable=nullable)


def soft_timestamps() -> list[Column[object]]:
    return [
        timestamp("created_at"),
        timestamp("updated_at"),
        timestamp("deleted_at", nullable=True, default_now=False),
    ]


__all__ = ["LIVE", "NAMING_CONVENTION", "fk", "id_column", "metadata", "soft_timestamps", "timestamp"]
