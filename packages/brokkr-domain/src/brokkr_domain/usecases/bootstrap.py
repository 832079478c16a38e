"""First start and admin-key rotation (contract decision 2: no well-known default admin key).

On the first start of a tenant the broker creates the admin role and the ``admin-generator`` row (the owner id
for stacks the admin creates; it shares the admin's hash, and authentication checks the admin first). The
admin hash is either preset by the operator (``BROKKR__BROKER__PAK_HASH``, a SHA-256 hex digest) or comes from
a freshly generated PAK whose plaintext is returned exactly once so the caller can print it and store it for
the owner.
"""

from __future__ import annotations

import re

import attrs

from brokkr_domain.errors import ConflictError, ValidationError
from brokkr_domain.model import AdminRole, Caller, Generator
from brokkr_domain.model.generators import ADMIN_GENERATOR_NAME
from brokkr_domain.pak import generate_pak
from brokkr_domain.ports import UnitOfWork
from brokkr_domain.usecases.context import Services

ADMIN_GENERATOR_DESCRIPTION = "Linked to Admin PAK"
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def normalize_admin_hash(pak_hash: str) -> str:
    """Validate a preset admin hash (64 hex digits) and return it in the stored lowercase form."""
    candidate = pak_hash.strip()
    if not _HEX64.fullmatch(candidate):
        raise ValidationError(
            "the preset admin PAK hash must be the 64-hex-digit SHA-256 of the PAK's long token",
            code="invalid_pak_hash",
            details={"field": "broker.pak_hash"},
        )
    return candidate.lower()


def ensure_initialized(s: Services, *, preset_admin_hash: str | None) -> str | None:
    """Initialise the tenant on first start; on later starts only apply a changed preset hash.

    Returns the new admin PAK in plaintext when one was generated (first start without a preset), else
    ``None``. Replicas starting together on an empty database race; the loser's unit of work fails with a
    ``ConflictError`` (the ``admin-generator`` name is unique) and is run once more, when it finds the tenant
    initialised: its own key was never committed and is not returned.
    """
    preset = normalize_admin_hash(preset_admin_hash) if preset_admin_hash else None
    try:
        return _initialize_once(s, preset)
    except ConflictError:
        return _initialize_once(s, preset)


def _initialize_once(s: Services, preset: str | None) -> str | None:
    generated: str | None = None
    with s.uow() as uow:
        admin = uow.admin.get()
        if uow.admin.is_initialized() and admin is not None:
            if preset is None or admin.pak_hash == preset:
                return None
            role = _set_admin_hash(uow, s, preset, admin)
            action = "pak.rotated"
        else:
            if preset is None:
                pak = generate_pak(s.pak_settings)
                generated, pak_hash = pak.key, pak.hash
            else:
                pak_hash = preset
            role = _set_admin_hash(uow, s, pak_hash, admin)
            uow.admin.mark_initialized(s.clock.now())
            action = "pak.created"
        uow.commit()
    s.audit_entry(
        Caller.system(), action, "admin", role.id, {"source": "preset" if generated is None else "generated"}
    )
    return generated


def rotate_admin(s: Services, *, caller: Caller | None = None) -> str:
    """Give the admin a new PAK (the ``admin-generator`` follows) and return it; the old key stops working."""
    pak = generate_pak(s.pak_settings)
    with s.uow() as uow:
        role = _set_admin_hash(uow, s, pak.hash, uow.admin.get())
        if not uow.admin.is_initialized():
            uow.admin.mark_initialized(s.clock.now())
        uow.commit()
    s.audit_entry(caller or Caller.system(), "pak.rotated", "admin", role.id, {"source": "generated"})
    return pak.key


def _set_admin_hash(uow: UnitOfWork, s: Services, pak_hash: str, current: AdminRole | None) -> AdminRole:
    """Write the admin role's hash and keep the ``admin-generator`` in step (creating either if missing)."""
    now = s.clock.now()
    if current is None:
        role = AdminRole(id=s.ids.new_id(), pak_hash=pak_hash, created_at=now, updated_at=now)
    else:
        role = attrs.evolve(current, pak_hash=pak_hash, updated_at=now)
    role = uow.admin.upsert(role)
    generator = uow.generators.find_by_name(ADMIN_GENERATOR_NAME)
    if generator is None:
        uow.generators.add(
            Generator(
                id=s.ids.new_id(),
                name=ADMIN_GENERATOR_NAME,
                description=ADMIN_GENERATOR_DESCRIPTION,
                pak_hash=pak_hash,
                created_at=now,
                updated_at=now,
            )
        )
    else:
        uow.generators.update(attrs.evolve(generator, pak_hash=pak_hash, updated_at=now))
    return role


__all__ = ["ADMIN_GENERATOR_DESCRIPTION", "ensure_initialized", "normalize_admin_hash", "rotate_admin"]
