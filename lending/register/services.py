"""Asset register actions: create, edit, change status, set the photo. Each records its audit entry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from audit import record
from audit.services import diff
from core.dates import bangkok_date
from core.db import N_, Conflict, DomainError, Forbidden, NotFound, Session, utcnow, write
from core.files import PHOTO_TYPES, FileStore, store_upload
from lending.register import permissions
from lending.register.models import Asset, clean_asset_fields, compute_search_text, new_tag


class InvalidFields(DomainError):
    """Field-level errors: {field: reason msgid}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(N_("Please correct the marked fields."))
        self.errors = errors


def _require(ok: bool) -> None:
    if not ok:
        raise Forbidden(N_("You may not do this."))


def unique_tag(session: Session, taken: set[str] | None = None) -> str:
    """A tag no asset has (collisions are rare: 31^8 codes)."""
    while True:
        tag = new_tag()
        if taken is not None:
            if tag not in taken:
                taken.add(tag)
                return tag
        elif session.execute(select(Asset.id).where(Asset.tag == tag)).first() is None:
            return tag


def create_asset(session: Session, actor, raw: dict[str, Any]) -> Asset:
    """Put a new asset on the register with a fresh QR tag."""
    _require(permissions.can_manage_assets(actor))
    fields, errors = clean_asset_fields(raw)
    if errors:
        raise InvalidFields(errors)
    with write(session):
        if session.execute(select(Asset.id).where(Asset.asset_number == fields["asset_number"])).first():
            raise InvalidFields({"asset_number": N_("this asset number is already on the register")})
        asset = Asset(tag=unique_tag(session), status="available", status_note="")
        asset.apply(fields)
        session.add(asset)
        try:
            session.flush()
        except IntegrityError:
            raise InvalidFields({"asset_number": N_("this asset number is already on the register")}) from None
        record(session, actor, "asset.created", asset, {"after": asset.state()})
        session.commit()
    return asset


def _load_for_change(session: Session, asset_id: int, version: int) -> Asset:
    asset = session.get(Asset, asset_id)
    if asset is None:
        raise NotFound(N_("No such asset."))
    if asset.version != version:
        raise Conflict(N_("Someone else changed this asset after you opened the form. Reload and try again."))
    return asset


def update_asset(session: Session, actor, asset_id: int, version: int, raw: dict[str, Any]) -> Asset:
    """Edit an asset's details; a form opened before someone else's save is refused."""
    _require(permissions.can_manage_assets(actor))
    fields, errors = clean_asset_fields(raw)
    if errors:
        raise InvalidFields(errors)
    with write(session):
        asset = _load_for_change(session, asset_id, version)
        if (
            fields["asset_number"] != asset.asset_number
            and session.execute(select(Asset.id).where(Asset.asset_number == fields["asset_number"])).first()
        ):
            raise InvalidFields({"asset_number": N_("this asset number is already on the register")})
        before = asset.state()
        asset.apply(fields)
        change = diff(before, asset.state())
        if not change["after"]:
            return asset
        record(session, actor, "asset.updated", asset, change)
        session.commit()
    return asset


def change_status(session: Session, actor, asset_id: int, version: int, status: str, note: str) -> Asset:
    """Mark an asset available, in repair, lost or disposed, with a reason."""
    _require(permissions.can_manage_assets(actor))
    if not (note or "").strip() and status != "available":
        raise InvalidFields({"note": N_("required")})
    with write(session):
        asset = _load_for_change(session, asset_id, version)
        before = asset.state()
        asset.change_status(status, (note or "")[:2000], bangkok_date(utcnow()))
        record(session, actor, "asset.status_changed", asset, diff(before, asset.state()))
        session.commit()
    return asset


def set_photo(
    session: Session, actor, asset_id: int, data: bytes, filename: str, store: FileStore, max_bytes: int
) -> Asset:
    """Attach a photo (type checked by content, GPS removed) through the one file store."""
    _require(permissions.can_manage_assets(actor))
    with write(session):
        asset = session.get(Asset, asset_id)
        if asset is None:
            raise NotFound(N_("No such asset."))
        stored = store_upload(
            session, store, data, filename, allowed=PHOTO_TYPES, max_bytes=max_bytes, uploaded_by_id=actor.id
        )
        before = asset.state()
        asset.photo_sha256 = stored.sha256
        asset.search_text = compute_search_text(asset.state())
        record(
            session,
            actor,
            "asset.photo_set",
            asset,
            {
                **diff(before, asset.state()),
                "file": {"sha256": stored.sha256, "name": stored.original_name, "size": stored.size},
            },
        )
        session.commit()
    return asset


def record_output(
    session: Session, actor, action: str, data: dict[str, Any], before_commit: Callable[[Session], None] | None = None
) -> None:
    """Record that someone printed or exported register data (label sheets, CSV): audited like a change.

    `before_commit` runs in the same transaction (a job marks its file ready there)."""
    _require(permissions.can_view_assets(actor))
    with write(session):
        record(session, actor, action, None, data)
        if before_commit is not None:
            before_commit(session)
        session.commit()
