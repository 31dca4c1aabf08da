"""One-time tokens that make create forms idempotent: a replay or a simultaneous duplicate of a form
gets the first submission's record, never a second record.

How: the form carries a random token (`issue`, shown as a hidden field `form_token`; nothing is stored
when the form is shown). The view runs the create service through `run_once`, naming the audit action
of the create ("loan.requested"). When the service records that action, the audit writer calls
`note_recorded`, which inserts the token with the new record's type and id *in the same transaction*.
The token is the primary key of `form_tokens`, so of two submissions only one can commit it: the other
fails on the insert (PostgreSQL waits for the first to commit, then raises a unique violation; SQLite's
BEGIN IMMEDIATE queues the second behind the first), is rolled back whole, and `run_once` answers with
the first record instead. A submission without a token (scripts, the command line) is not deduplicated.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from sqlalchemy import insert, select
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import scoped_session

from core.db import N_, Conflict, Session
from core.models import FormToken

FIELD = "form_token"
_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_PENDING = "khruphan_form_token"


def issue() -> str:
    """A fresh token for a form being shown."""
    return secrets.token_urlsafe(24)


def valid(token: str | None) -> str | None:
    """The token if it has the shape `issue` gives, else None (treated as no token)."""
    token = (token or "").strip()
    return token if _SHAPE.fullmatch(token) else None


@dataclass
class _Claim:
    token: str
    action: str
    user_id: int | None
    transaction: Any = None


@dataclass(frozen=True)
class Outcome:
    """What a submission led to: the record it created (`created`), or the first submission's record."""

    created: Any
    record_type: str
    record_id: str
    replayed: bool


def _plain(session: Session) -> OrmSession:
    return session() if isinstance(session, scoped_session) else session


def first_result(session: Session, token: str) -> FormToken | None:
    """The stored token, with the record its first submission created, or None."""
    return session.execute(select(FormToken).where(FormToken.token == token)).scalar_one_or_none()


def note_recorded(session: Session, action: str, subject_type: str, subject_id: str) -> None:
    """Called by the audit writer for every entry: store the pending token with the record it created.

    Only the first entry of the named action in a transaction counts (an upload of several files in
    one form keeps the first file's item)."""
    session = _plain(session)
    claim: _Claim | None = session.info.get(_PENDING)
    if claim is None or action != claim.action:
        return
    current = session.get_transaction()
    if claim.transaction is current:
        return
    if claim.transaction is not None and first_result(session, claim.token) is not None:
        return  # stored by an earlier transaction of this same submission
    session.execute(
        insert(FormToken).values(
            token=claim.token,
            action=claim.action,
            user_id=claim.user_id,
            record_type=subject_type[:40],
            record_id=subject_id[:64],
        )
    )
    claim.transaction = current


def run_once(
    session: Session, token: str | None, action: str, user_id: int | None, create: Callable[[], Any]
) -> Outcome:
    """Run `create` (a service call) unless this token already made its record; see the module text."""
    token = valid(token)
    if token is None:
        return Outcome(create(), "", "", False)
    plain = _plain(session)
    done = first_result(plain, token)
    if plain.in_transaction():
        plain.rollback()  # the service starts its own write transaction
    if done is not None:
        return _replay(done, action)
    plain.info[_PENDING] = _Claim(token, action, user_id)
    try:
        created = create()
    except Exception:
        # Whatever stopped this submission (the token's unique key, or a rule the service checks that
        # the first submission's record now breaks): if another submission of this form has stored
        # its record, that record is the answer.
        plain.rollback()
        done = first_result(plain, token)
        plain.rollback()
        if done is not None:
            return _replay(done, action)
        raise
    finally:
        plain.info.pop(_PENDING, None)
    return Outcome(created, "", "", False)


def _replay(done: FormToken, action: str) -> Outcome:
    if done.action != action or not done.record_id:
        raise Conflict(N_("This form was already used for something else. Reload the page and try again."))
    return Outcome(None, done.record_type, done.record_id, True)


def form_token_field() -> Markup:
    """The hidden input a create form carries (templates: `{{ form_token_field() }}`)."""
    return Markup('<input type="hidden" name="%s" value="%s">') % (FIELD, issue())
