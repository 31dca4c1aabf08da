"""Signing in and out: the login throttle, login sessions, one's own password. Each records its audit entry;
signing in works while the audit log cannot be written (and says so loudly)."""

from __future__ import annotations

import logging
import math
import secrets
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import joinedload

from core import recorder
from core.db import N_, AuditUnavailable, DomainError, Session, known, utcnow, write
from core.models import THROTTLE_ADDRESS, THROTTLE_USER, THROTTLE_USER_ADDRESS, LoginSession, LoginThrottle, User
from core.people import services
from core.people.services import settings_token_query

log = logging.getLogger("khruphan.auth")
_dummy_hash: str | None = None


def _dummy() -> str:
    """A hash to check unknown usernames against, so the answer takes as long either way."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = services.hash_password("not-a-real-password")
    return _dummy_hash


class LoginRefused(DomainError):
    status = 200


def _record_sign_in(session: Session, actor: User | None, action: str, subject: Any, data: dict) -> bool:
    """Record signing in or out; when the log cannot take an entry, go on without it and say so loudly.

    Signing in must work while the chain is broken, or the auditor could not sign in to see why. The
    entry is tried in a savepoint, so a refused append leaves the rest of the transaction intact; the
    commit is then allowed without it (the guard reads `audit_waived`) and the gap is logged critically.
    """
    try:
        with session.begin_nested():
            recorder.record(session, actor, action, subject, data)
        return True
    except AuditUnavailable:
        session.info["audit_waived"] = action
        log.critical(
            "%s of %r committed WITHOUT its audit entry: the audit log cannot be written",
            action,
            getattr(subject, "username", ""),
        )
        return False


LOGIN_DEFAULTS: dict[str, Any] = {
    "LOGIN_SLOWDOWN_AFTER": 3,
    "LOGIN_LOCK_AFTER": 10,
    "LOGIN_LOCK_MINUTES": 15,
    "LOGIN_ADDRESS_LOCK_AFTER": 30,
    "LOGIN_USER_LOCK_AFTER": 100,
    "LOGIN_WINDOW_MINUTES": 15,
}


def _throttles(session: Session, key: str, address: str) -> list[LoginThrottle]:
    """The throttle rows that govern a login of `key` from `address`, created when missing and locked for
    the transaction (in one order, so parallel logins queue instead of deadlocking).

    Without an address (the command line, a service called directly) only the per-username counts apply.
    """
    scopes = [(THROTTLE_USER_ADDRESS, key, address), (THROTTLE_USER, key, "")]
    if address:
        scopes.append((THROTTLE_ADDRESS, "", address))
    rows = {LoginThrottle.key_of(*scope): scope for scope in scopes}
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for row_key in sorted(rows):
        scope, username, addr = rows[row_key]
        session.execute(
            dialect_insert(LoginThrottle)
            .values(key=row_key, scope=scope, username=username, address=addr, failures=0)
            .on_conflict_do_nothing(index_elements=["key"])
        )
    found = {
        t.key: t
        for t in session.execute(
            select(LoginThrottle)
            .where(LoginThrottle.key.in_(sorted(rows)))
            .order_by(LoginThrottle.key)
            .with_for_update()
        ).scalars()
    }
    return [found[LoginThrottle.key_of(*scope)] for scope in scopes]


def _refusal(throttles: list[LoginThrottle], now: datetime, cfg: dict[str, Any]) -> LoginRefused | None:
    """Why a login must not even be checked now (a lock, or the delay after failures), or None."""
    window = timedelta(minutes=cfg["LOGIN_WINDOW_MINUTES"])
    for throttle in throttles:
        locked = _aware(throttle.locked_until)
        if locked and locked <= now:
            throttle.failures, throttle.locked_until, throttle.first_failed_at = 0, None, None
        first = _aware(throttle.first_failed_at)
        if throttle.scope != THROTTLE_USER_ADDRESS and first and now >= first + window:
            throttle.failures, throttle.first_failed_at = 0, None  # the window has passed
    for throttle in throttles:
        locked = _aware(throttle.locked_until)
        if locked and locked > now:
            minutes = max(1, math.ceil((locked - now).total_seconds() / 60))
            if throttle.scope != THROTTLE_ADDRESS:
                return LoginRefused(
                    N_("Too many failed logins: this account is locked for %(minutes)d more minutes."), minutes=minutes
                )
            return LoginRefused(
                N_("Too many failed logins from this address: try again in %(minutes)d minutes."), minutes=minutes
            )
    pair = throttles[0]
    extra = pair.failures - cfg["LOGIN_SLOWDOWN_AFTER"]
    last = _aware(pair.last_failed_at)
    if extra >= 0 and last and now < last + timedelta(seconds=2 ** min(extra, 8)):
        wait = max(1, math.ceil((last + timedelta(seconds=2 ** min(extra, 8)) - now).total_seconds()))
        return LoginRefused(N_("Too many failed logins: wait %(seconds)d seconds and try again."), seconds=wait)
    return None


def _count_failure(throttles: list[LoginThrottle], now: datetime, cfg: dict[str, Any]) -> None:
    limits = {
        THROTTLE_USER_ADDRESS: cfg["LOGIN_LOCK_AFTER"],
        THROTTLE_ADDRESS: cfg["LOGIN_ADDRESS_LOCK_AFTER"],
        THROTTLE_USER: cfg["LOGIN_USER_LOCK_AFTER"],
    }
    for throttle in throttles:
        throttle.failures += 1
        throttle.first_failed_at = throttle.first_failed_at or now
        throttle.last_failed_at = now
        if throttle.failures >= limits[throttle.scope]:
            throttle.locked_until = now + timedelta(minutes=cfg["LOGIN_LOCK_MINUTES"])
            throttle.failures, throttle.first_failed_at = 0, None


def login(
    session: Session,
    username: str,
    password: str,
    *,
    ip: str = "",
    user_agent: str = "",
    now: datetime | None = None,
    config: dict[str, Any] | None = None,
) -> tuple[User, str]:
    """Check a password under the throttle; on success open a login session and return its token.

    Failures count per (username, address) — the delay and the lock a guesser meets —, per address (many
    usernames from one place) and per username from anywhere (a slower limit), so someone guessing a
    known username from their own address cannot lock its owner out from another one."""
    cfg = {**LOGIN_DEFAULTS, **{k: v for k, v in (config or {}).items() if k in LOGIN_DEFAULTS}}
    now = now or utcnow()
    key = services.normalise_username(username)[:64]
    address = (ip or "").strip()[:64]
    with write(session):
        throttles = _throttles(session, key, address) if key else []
        if throttles:
            refusal = _refusal(throttles, now, cfg)
            if refusal is not None:
                raise refusal

        user = session.execute(select(User).where(User.username == key)).scalar_one_or_none() if key else None
        ok = services.verify_password(user.password_hash if user else _dummy(), password or "")
        if not ok or user is None or not user.active:
            _count_failure(throttles, now, cfg)
            # Nobody is signed in: the actor is unknown (None); the account tried is the subject.
            _record_sign_in(
                session,
                None,
                "auth.login_failed",
                user,
                {"username": key, "reason": "inactive" if user and ok else "bad_credentials"},
            )
            session.commit()
            raise LoginRefused(N_("Wrong username or password."))

        for throttle in throttles:
            if throttle.scope != THROTTLE_ADDRESS:  # the address may still be guessing at other usernames
                session.delete(throttle)
        if services.needs_rehash(user.password_hash):
            user.password_hash = services.hash_password(password)
        token = secrets.token_urlsafe(32)
        session.add(LoginSession(token=token, user_id=user.id, ip=ip[:64], user_agent=user_agent[:300]))
        recorded = _record_sign_in(session, user, "auth.login", user, {})
        session.commit()
        user.current_session_token = token
        user.audit_unavailable = not recorded  # the view warns those who can act on it
        return user, token


def locked_logins(session: Session, now: datetime | None = None) -> list[LoginThrottle]:
    """The locks in force now, newest first: for the admin, to see who is being guessed at from where."""
    now = now or utcnow()
    return list(
        session.execute(
            select(LoginThrottle)
            .where(LoginThrottle.locked_until > now)
            .order_by(LoginThrottle.locked_until.desc(), LoginThrottle.key)
        ).scalars()
    )


def _aware(at: datetime | None) -> datetime | None:
    if at is None or at.tzinfo is not None:
        return at
    from datetime import UTC

    return at.replace(tzinfo=UTC)


SESSION_HOURS = 12  # a login lasts a working day at most, whatever the cookie says


def load_session_user(session: Session, token: str) -> User | None:
    """The active user behind a live login session token (not revoked, not older than a day), or None."""
    return load_session_user_and_settings(session, token)[0]


@cache
def _session_user_statement():
    """The statement of load_session_user_and_settings, built once: building it (a dozen clauses) cost a
    third of loading the user on every page; its values are bound parameters."""
    return (
        select(User, settings_token_query())
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(
            LoginSession.token == bindparam("token"),
            LoginSession.revoked_at.is_(None),
            User.active.is_(True),
            LoginSession.created_at > bindparam("since"),
        )
        .options(joinedload(User.role_rows))
    )


def load_session_user_and_settings(session: Session, token: str) -> tuple[User | None, str | None]:
    """The user behind a login session token (as load_session_user), with their roles and the settings'
    version token, in one statement: what every page of a signed-in person needs before its own work."""
    if not token:
        return None, None
    since = utcnow() - timedelta(hours=SESSION_HOURS)
    found = session.execute(_session_user_statement(), {"token": token, "since": since}).unique().one_or_none()
    if found is None:
        return None, None
    user, settings_token = found
    user.current_session_token = token
    return user, settings_token


def logout(session: Session, user: User, token: str) -> None:
    """End one login session server-side."""
    with write(session):
        session.execute(
            update(LoginSession)
            .where(LoginSession.token == token, LoginSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        _record_sign_in(session, user, "auth.logout", user, {})
        session.commit()


def change_password(session: Session, user: User, old_password: str, new_password: str) -> str:
    """Change one's own password; every other session of the user ends. Returns a fresh session token."""
    with write(session):
        user = known(session.get(User, user.id), "user")
        if not services.verify_password(user.password_hash, old_password or ""):
            raise DomainError(N_("The current password is wrong."))
        services.check_password_strength(new_password)
        user.password_hash = services.hash_password(new_password)
        services.revoke_sessions(session, user.id)
        token = secrets.token_urlsafe(32)
        session.add(LoginSession(token=token, user_id=user.id))
        recorder.record(session, user, "user.password_changed", user, {})
        session.commit()
        user.current_session_token = token
        return token
