"""Alembic migrations of the Brokkr schema (one version table per tenant schema)."""
