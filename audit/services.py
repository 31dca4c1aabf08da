"""The one writer of the audit log, the guard that no audited change goes unrecorded, and checkpoints."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Insert, Table, Update, bindparam, event, insert, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session as OrmSession  # the class, for its events
from sqlalchemy.sql.dml import Delete

from audit.integrity import checkpoints as checkpoint_file
from audit.integrity import mac as entry_mac
from audit.integrity.chain import canonical_stored, dumps, entry_hash, format_at, hash_text
from audit.integrity.verify import Checkpoint, Result
from audit.models import AuditCheckpoint, AuditEntry, AuditHead
from core.db import N_, Audited, AuditUnavailable, DomainError, Model, Session, utcnow, write
from core.models import User
from core.web import form_tokens
from core.web.context import current_origin

log = logging.getLogger("khruphan.audit")

# Column widths of the text fields: values are stored (and hashed) in NFC, cut to fit.
_WIDTHS = {
    "actor": 64,
    "action": 64,
    "subject_type": 64,
    "subject_id": 64,
    "ip": 64,
    "user_agent": 300,
    "request_id": 64,
}


class AuditMissing(RuntimeError):
    """An audited table was changed in a transaction that recorded no audit entry."""


def _text(name: str, value: Any) -> str:
    """A text field as the writer stores it: NFC, at most the column's width (exactly what is hashed)."""
    out = unicodedata.normalize("NFC", str(value or ""))
    width = _WIDTHS[name]
    while len(out) > width:
        out = unicodedata.normalize("NFC", out[:width])
    return out


def _origin_fields() -> dict[str, str]:
    origin = current_origin()
    return {
        "ip": _text("ip", origin.ip),
        "user_agent": _text("user_agent", origin.user_agent),
        "request_id": _text("request_id", origin.request_id),
    }


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


def _unavailable(reason: str, detail: str = "") -> AuditUnavailable:
    """The refusal of an append, with the alert an operator needs (the person sees the 503 page)."""
    log.critical(
        "the audit log cannot be written (%s)%s; nothing was saved. Run `flask --app wsgi audit verify`.",
        reason,
        f": {detail}" if detail else "",
    )
    return AuditUnavailable(
        N_(
            "The audit log cannot be written (%(reason)s), so nothing was saved. Tell "
            "the administrator or internal audit: they can sign in and verify the log."
        ),
        reason=reason,
    )


def _lock_head(session: Session) -> AuditHead:
    """The head row, locked; refuses (AuditUnavailable) when the chain cannot take one more entry.

    One row at or beyond head+1 (a stray or forged entry), or one already chained to the head's hash,
    would make the append fail on a unique key at commit: that is found here and named instead.
    """
    stmt = select(AuditHead).where(AuditHead.id == 1).with_for_update().execution_options(populate_existing=True)
    try:
        head = session.execute(stmt).scalar_one_or_none()
        if head is None:
            raise _unavailable(N_("its head is missing"))
        beyond = session.execute(
            select(AuditEntry.seq).where(or_(AuditEntry.seq > head.seq, AuditEntry.prev_hash == head.hash)).limit(1)
        ).scalar_one_or_none()
    except DBAPIError as err:
        raise _unavailable(N_("its tables cannot be read"), str(err.orig).splitlines()[0]) from err
    if beyond is not None:
        raise _unavailable(N_("an entry lies beyond its head"), f"entry {beyond}, head {head.seq}")
    return head


def _actor_of(actor: Any) -> tuple[int | None, str | None]:
    """(id, username) of the acting user, username None when it is not loaded.

    A write service starts with `write` (begin_write), whose rollback expires every object: reading `actor.id` would
    reload the user and its roles (two statements) only to name them in the entry. The id is in the
    object's identity and the username is read with the head (`_head_for_append`) instead."""
    if actor is None:
        return None, ""
    state = sa_inspect(actor, raiseerr=False)
    if state is None or state.key is None:  # not a stored, mapped object: a stand-in
        return getattr(actor, "id", None), getattr(actor, "username", "")
    return state.key[1][0], state.dict.get("username")


def _head_for_append(session: Session, actor_id: int | None = None) -> tuple[int, str, str | None]:
    """(seq, hash) of the head, locked, checked as `_lock_head` checks it — in one statement: the head
    row with, beside it, any entry at or beyond head+1 or already chained to the head's hash, and the
    username of `actor_id` when one is given."""
    entries, head = AuditEntry.__table__, AuditHead.__table__
    beyond = (
        select(entries.c.seq)
        .where(or_(entries.c.seq > head.c.seq, entries.c.prev_hash == head.c.hash))
        .limit(1)
        .scalar_subquery()
    )
    columns = [head.c.seq, head.c.hash, beyond]
    if actor_id is not None:
        users = User.__table__
        columns.append(select(users.c.username).where(users.c.id == actor_id).scalar_subquery())
    stmt = select(*columns).where(head.c.id == 1).with_for_update(of=head)
    session.flush()  # what the transaction holds goes first (a head moved by record_many among it)
    try:
        found = session.execute(stmt).one_or_none()
    except DBAPIError as err:
        raise _unavailable(N_("its tables cannot be read"), str(err.orig).splitlines()[0]) from err
    if found is None:
        raise _unavailable(N_("its head is missing"))
    seq, head_hash, stray, *username = found
    if stray is not None:
        raise _unavailable(N_("an entry lies beyond its head"), f"entry {stray}, head {seq}")
    return int(seq), head_hash, (username[0] if username else None)


# The two writes of an append, built once: the entry (Core, not the unit of work) and the head moved on.
_HEAD_TABLE = cast(Table, AuditHead.__table__)  # a model's table is a Table
_INSERT_ENTRY = cast(Table, AuditEntry.__table__).insert()
_MOVE_HEAD = (
    _HEAD_TABLE.update().where(_HEAD_TABLE.c.id == 1).values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


def record(
    session: Session, actor: Any, action: str, subject: Any = None, data: dict[str, Any] | None = None
) -> AuditEntry:
    """Append one entry to the chain, in the caller's transaction. `actor` is a User or None (system).

    Three statements: the head read and checked (locked, with the actor's username when the actor's
    attributes were expired), the entry inserted, the head moved on. The
    entry's canonical text is assembled from the stored values (`canonical_stored`): `data` is encoded to
    canonical JSON once, and that very text is both stored and hashed."""
    actor_id, actor_name = _actor_of(actor)
    seq, prev_hash, read_name = _head_for_append(session, actor_id if actor_name is None else None)
    subject_type, subject_id = subject_of(subject)
    fields: dict[str, Any] = {
        "seq": seq + 1,
        "at": utcnow(),
        "actor_id": actor_id,
        "actor": _text("actor", actor_name if actor_name is not None else read_name),
        "action": _text("action", action),
        "subject_type": _text("subject_type", subject_type),
        "subject_id": _text("subject_id", subject_id),
        "data": dumps(data or {}),
        "prev_hash": prev_hash,
        **_origin_fields(),
    }
    fields["hash"] = hash_text(canonical_stored(fields))
    fields["mac"] = entry_mac.mac_for(fields["hash"])
    connection = session.connection()
    connection.execute(_INSERT_ENTRY, fields)
    connection.execute(_MOVE_HEAD, {"new_seq": fields["seq"], "new_hash": fields["hash"]})
    session.info["audit_recorded"] = True
    form_tokens.note_recorded(session, fields["action"], fields["subject_type"], fields["subject_id"])
    return AuditEntry(**fields)  # what was written, for the caller to read (not added to the session)


def record_many(session: Session, actor: Any, action: str, items: Sequence[tuple[Any, dict[str, Any] | None]]) -> int:
    """Append one entry per (subject, data) in order, under one lock: for imports of many records."""
    if not items:
        return 0
    head = _lock_head(session)
    origin = _origin_fields()
    at = utcnow()
    seq, prev = head.seq, head.hash
    actor_id, actor_name = getattr(actor, "id", None), _text("actor", getattr(actor, "username", ""))
    action = _text("action", action)
    mac_key = entry_mac.current_key()
    rows = []
    for subject, data in items:
        subject_type, subject_id = subject_of(subject)
        seq += 1
        fields: dict[str, Any] = {
            "seq": seq,
            "at": at,
            "actor_id": actor_id,
            "actor": actor_name,
            "action": action,
            "subject_type": _text("subject_type", subject_type),
            "subject_id": _text("subject_id", subject_id),
            "data": dumps(data or {}),
            **origin,
            "prev_hash": prev,
        }
        fields["hash"] = prev = entry_hash(fields)
        fields["mac"] = entry_mac.mac_of(mac_key, prev) if mac_key else None
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


def audited_tables() -> frozenset[str]:
    """The names of the tables whose models are marked Audited."""
    tables = (m.local_table for m in Model.registry.mappers if issubclass(m.class_, Audited))
    return frozenset(t.name for t in tables)  # type: ignore[attr-defined]  # every model maps a Table


def _statement_table(statement: Any) -> str | None:
    if isinstance(statement, Insert | Update | Delete):
        return getattr(statement.table, "name", None)
    return None


def install_guard() -> None:
    """Refuse a commit that changed an audited table without an audit entry (bulk statements too)."""
    if getattr(install_guard, "_done", False):
        return
    install_guard._done = True  # type: ignore[attr-defined]  # a flag on the function: installed once per process

    @event.listens_for(OrmSession, "before_flush")
    def _before_flush(session, _ctx, _instances):
        if _touches_audited(session):
            session.info["audit_needed"] = True

    @event.listens_for(OrmSession, "do_orm_execute")
    def _bulk(state):
        if state.is_update or state.is_delete or state.is_insert:
            mapper = state.bind_mapper
            if mapper is not None and issubclass(mapper.class_, Audited):
                state.session.info["audit_needed"] = True
            elif _statement_table(state.statement) in audited_tables():
                # A Core statement on an audited table, run through the session (update(Asset.__table__)).
                state.session.info["audit_needed"] = True

    @event.listens_for(OrmSession, "before_commit")
    def _before_commit(session):
        needed = session.info.get("audit_needed") or _touches_audited(session)
        # `audit_waived`: signing in while the log cannot be written (core.people.signin._record_sign_in).
        if needed and not (session.info.get("audit_recorded") or session.info.get("audit_waived")):
            session.info.pop("audit_needed", None)
            raise AuditMissing("a change to an audited table was committed without an audit entry")

    @event.listens_for(OrmSession, "after_transaction_end")
    def _end(session, transaction):
        if transaction.parent is None:
            session.info.pop("audit_needed", None)
            session.info.pop("audit_recorded", None)
            session.info.pop("audit_waived", None)


# --- checkpoints and the auditor's own actions ---------------------------------------------------


def create_checkpoint(
    session: Session, actor: Any, *, log: Any = None, key: checkpoint_file.SigningKey | None = None
) -> AuditCheckpoint:
    """Record the chain's head (signed when a key is given), then an `audit.checkpoint` entry after it.

    The checkpoint line goes to the file before the database commits: a failed commit leaves a line that
    still describes history that exists (the head it names was committed before), never a database row
    that the file lacks.
    """
    with write(session):
        head = _lock_head(session)
        if head.seq == 0:
            raise DomainError(N_("The audit log is empty: there is nothing to checkpoint yet."))
        at = utcnow()
        at_text = format_at(at)
        signature = key.sign(head.seq, head.hash, at_text) if key else ""
        key_id = key.key_id if key else ""
        cp = AuditCheckpoint(seq=head.seq, hash=head.hash, at=at, signature=signature, key_id=key_id)
        session.add(cp)
        session.flush()
        record(
            session,
            actor,
            "audit.checkpoint",
            ("audit_checkpoint", cp.id),
            {
                "seq": cp.seq,
                "hash": cp.hash,
                "signed": bool(signature),
                "key_id": key_id,
                "mac": entry_mac.current_key() is not None,
            },
        )
        if log is not None:
            checkpoint_file.append(
                log, Checkpoint(seq=cp.seq, hash=cp.hash, at=at_text, signature=signature, key_id=key_id, source="file")
            )
        session.commit()
        return cp


def record_verification(
    session: Session, actor: Any, result: Result, before_commit: Callable[[Session], None] | None = None
) -> int:
    """Record that someone verified the chain, and what they were told; return the entry's number.

    `before_commit` runs in the same transaction (a job marks itself done there)."""
    with write(session):
        problem = result.problem
        entry = record(
            session,
            actor,
            "audit.verified",
            None,
            {
                "ok": result.ok,
                "count": result.count,
                "head_seq": result.head_seq,
                "head_hash": result.head_hash,
                "checkpoints": result.checkpoints,
                "problem": (
                    {"seq": problem.seq, "kind": problem.kind, "message": problem.message} if problem else None
                ),
            },
        )
        if before_commit is not None:
            before_commit(session)
        session.commit()
        return entry.seq


def record_export(
    session: Session,
    actor: Any,
    *,
    fmt: str,
    filter_args: dict[str, str],
    count: int,
    upto: int,
    before_commit: Callable[[Session], None] | None = None,
) -> None:
    """Record an export of the audit log once its file exists: format, filter, rows, up to which entry.

    `before_commit` runs in the same transaction: the export job marks itself done (its file offered)
    there, so the entry and the file come into being together."""
    with write(session):
        record(
            session,
            actor,
            "audit.exported",
            None,
            {"format": fmt, "filter": filter_args, "count": count, "upto_seq": upto},
        )
        if before_commit is not None:
            before_commit(session)
        session.commit()


def record_backup(session: Session, *, directory: str, head: tuple[int, str], manifest_sha256: str, files: int) -> None:
    """Record a backup taken from the command line (it is not part of the snapshot it describes)."""
    with write(session):
        record(
            session,
            None,
            "backup.created",
            None,
            {
                "directory": directory,
                "head_seq": head[0],
                "head_hash": head[1],
                "manifest_sha256": manifest_sha256,
                "files": files,
            },
        )
        session.commit()
