"""The one writer of the audit log, and the guard that no audited change goes unrecorded."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from audit.chain import dumps, entry_hash
from audit.models import GENESIS_HASH, AuditEntry, AuditHead
from core.context import current_origin
from core.db import Audited, utcnow


class AuditMissing(RuntimeError):
    """An audited table was changed in a transaction that recorded no audit entry."""


def subject_of(subject: Any) -> tuple[str, str]:
    """(type, id) of a model instance, a (type, id) pair, or nothing."""
    if subject is None:
        return "", ""
    if isinstance(subject, tuple):
        return str(subject[0]), str(subject[1])
    kind = getattr(subject, "audit_type", None) or subject.__tablename__
    ident = getattr(subject, "id", None)
    if ident is None:
        ident = getattr(subject, "key", "")
    return kind, str(ident)


def _lock_head(session: Session) -> AuditHead:
    stmt = (select(AuditHead).where(AuditHead.id == 1).with_for_update()
            .execution_options(populate_existing=True))
    head = session.execute(stmt).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS_HASH)
        session.add(head)
        session.flush()
    return head


def record(session: Session, actor: Any, action: str, subject: Any = None,
           data: dict[str, Any] | None = None) -> AuditEntry:
    """Append one entry to the chain, in the caller's transaction. `actor` is a User or None (system)."""
    head = _lock_head(session)
    subject_type, subject_id = subject_of(subject)
    origin = current_origin()
    entry = AuditEntry(
        seq=head.seq + 1,
        at=utcnow(),
        actor_id=getattr(actor, "id", None),
        actor=getattr(actor, "username", "") or "",
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        data=dumps(data or {}),
        ip=origin.ip,
        user_agent=origin.user_agent,
        request_id=origin.request_id,
        prev_hash=head.hash,
    )
    entry.hash = entry_hash({c: getattr(entry, c) for c in (
        "seq", "at", "actor_id", "actor", "action", "subject_type", "subject_id", "data", "ip",
        "user_agent", "request_id", "prev_hash")})
    head.seq, head.hash = entry.seq, entry.hash
    session.add(entry)
    session.info["audit_recorded"] = True
    return entry


def record_many(session: Session, actor: Any, action: str,
                items: list[tuple[Any, dict[str, Any] | None]]) -> int:
    """Append one entry per (subject, data) in order, under one lock: for imports of many records."""
    if not items:
        return 0
    head = _lock_head(session)
    origin = current_origin()
    at = utcnow()
    seq, prev = head.seq, head.hash
    rows = []
    for subject, data in items:
        subject_type, subject_id = subject_of(subject)
        seq += 1
        fields = {"seq": seq, "at": at, "actor_id": getattr(actor, "id", None),
                  "actor": getattr(actor, "username", "") or "", "action": action,
                  "subject_type": subject_type, "subject_id": subject_id, "data": dumps(data or {}),
                  "ip": origin.ip, "user_agent": origin.user_agent, "request_id": origin.request_id,
                  "prev_hash": prev}
        fields["hash"] = prev = entry_hash(fields)
        rows.append(fields)
    session.execute(insert(AuditEntry), rows)
    head.seq, head.hash = seq, prev
    session.info["audit_recorded"] = True
    return len(rows)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The changed fields as {"before": {...}, "after": {...}}."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {"before": {k: before.get(k) for k in keys}, "after": {k: after.get(k) for k in keys}}


def _touches_audited(session: Session) -> bool:
    for obj in session.new | session.deleted:
        if isinstance(obj, Audited):
            return True
    return any(isinstance(obj, Audited) and session.is_modified(obj) for obj in session.dirty)


def install_guard() -> None:
    """Refuse a commit that changed an audited table without an audit entry (bulk statements too)."""
    if getattr(install_guard, "_done", False):
        return
    install_guard._done = True

    @event.listens_for(Session, "before_flush")
    def _before_flush(session, _ctx, _instances):
        if _touches_audited(session):
            session.info["audit_needed"] = True

    @event.listens_for(Session, "do_orm_execute")
    def _bulk(state):
        if state.is_update or state.is_delete or state.is_insert:
            mapper = state.bind_mapper
            if mapper is not None and issubclass(mapper.class_, Audited):
                state.session.info["audit_needed"] = True

    @event.listens_for(Session, "before_commit")
    def _before_commit(session):
        needed = session.info.get("audit_needed") or _touches_audited(session)
        if needed and not session.info.get("audit_recorded"):
            session.info.pop("audit_needed", None)
            raise AuditMissing("a change to an audited table was committed without an audit entry")

    @event.listens_for(Session, "after_transaction_end")
    def _end(session, transaction):
        if transaction.parent is None:
            session.info.pop("audit_needed", None)
            session.info.pop("audit_recorded", None)
