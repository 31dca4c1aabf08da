"""People, login sessions and settings: one function per action, each recording its audit entry."""

from __future__ import annotations

import copy
import logging
import math
import secrets
import weakref
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import joinedload

from core import recorder
from core.db import (
    N_,
    AuditUnavailable,
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    Session,
    begin_write,
    known,
    utcnow,
)
from core.models import (
    THROTTLE_ADDRESS,
    THROTTLE_USER,
    THROTTLE_USER_ADDRESS,
    LoginSession,
    LoginThrottle,
    Setting,
    SettingsVersion,
    User,
)
from core.people.permissions import ROLES, SETTINGS_MANAGE, USERS_MANAGE

# Argon2id with OWASP's recommended minimum (19 MiB, 2 passes): a login costs a worker 19 MiB for a
# moment rather than the library default's 64 MiB, which matters with two workers on a small server.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_PASSWORD = 8
log = logging.getLogger("khruphan.auth")
_dummy_hash: str | None = None


def _dummy() -> str:
    """A hash to check unknown usernames against, so the answer takes as long either way."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("not-a-real-password")
    return _dummy_hash


DEFAULT_SETTINGS: dict[str, Any] = {
    "agency_name": "องค์การบริหารส่วนตำบลตัวอย่าง",
    "agency_short": "อบต.ตัวอย่าง",
    "district": "",
    "province": "",
    "address": "",
    "phone": "",
    "supply_unit": "งานพัสดุ กองคลัง",
    "head_approval_threshold": "10000.00",
    "head_approval_off_premises": True,
    "default_loan_days": 7,
    "thai_digits_in_documents": True,
    "strip_gps_from_photos": True,
    # lending to outsiders (lending/outside/rules.py reads these; {} and 0 mean its defaults)
    "outside_lending_rules": {},
    "outside_data_retention_years": 0,
    # the ITA report's signature block (ผู้รายงาน / ผู้รับรอง); blank prints a line to fill in by hand
    "report_reporter_name": "",
    "report_reporter_position": "",
    "report_certifier_name": "",
    "report_certifier_position": "",
}


class LoginRefused(DomainError):
    status = 200


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise DomainError(N_("The password must be at least %(n)d characters."), n=MIN_PASSWORD)
    if len(password) > 256:
        raise DomainError(N_("The password is too long (256 characters at most)."))


def _require(actor: User | None, permission: str) -> None:
    if actor is None or not actor.can(permission):
        raise Forbidden(N_("You may not do this."))


def normalise_username(username: str) -> str:
    return (username or "").strip().lower()


# --- login ---------------------------------------------------------------------------------------


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
    key = normalise_username(username)[:64]
    address = (ip or "").strip()[:64]
    begin_write(session)
    throttles = _throttles(session, key, address) if key else []
    if throttles:
        refusal = _refusal(throttles, now, cfg)
        if refusal is not None:
            session.rollback()
            raise refusal

    user = session.execute(select(User).where(User.username == key)).scalar_one_or_none() if key else None
    ok = False
    try:
        ok = _hasher.verify(user.password_hash if user else _dummy(), password or "")
    except (VerificationError, InvalidHashError):
        ok = False
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
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
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


def load_session_user_and_settings(session: Session, token: str) -> tuple[User | None, str | None]:
    """The user behind a login session token (as load_session_user), with their roles and the settings'
    version token, in one statement: what every page of a signed-in person needs before its own work."""
    if not token:
        return None, None
    found = (
        session.execute(
            select(User, _settings_token())
            .join(LoginSession, LoginSession.user_id == User.id)
            .where(
                LoginSession.token == token,
                LoginSession.revoked_at.is_(None),
                User.active.is_(True),
                LoginSession.created_at > utcnow() - timedelta(hours=SESSION_HOURS),
            )
            .options(joinedload(User.role_rows))
        )
        .unique()
        .one_or_none()
    )
    if found is None:
        return None, None
    user, settings_token = found
    user.current_session_token = token
    return user, settings_token


def logout(session: Session, user: User, token: str) -> None:
    """End one login session server-side."""
    begin_write(session)
    session.execute(
        update(LoginSession)
        .where(LoginSession.token == token, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    _record_sign_in(session, user, "auth.logout", user, {})
    session.commit()


def _revoke_all(session: Session, user_id: int) -> None:
    session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def change_password(session: Session, user: User, old_password: str, new_password: str) -> str:
    """Change one's own password; every other session of the user ends. Returns a fresh session token."""
    begin_write(session)
    user = known(session.get(User, user.id), "user")
    try:
        _hasher.verify(user.password_hash, old_password or "")
    except (VerificationError, InvalidHashError):
        session.rollback()
        raise DomainError(N_("The current password is wrong.")) from None
    check_password_strength(new_password)
    user.password_hash = _hasher.hash(new_password)
    _revoke_all(session, user.id)
    token = secrets.token_urlsafe(32)
    session.add(LoginSession(token=token, user_id=user.id))
    recorder.record(session, user, "user.password_changed", user, {})
    session.commit()
    user.current_session_token = token
    return token


# --- user administration -------------------------------------------------------------------------


def _user_state(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "name": user.name,
        "position": user.position,
        "department": user.department,
        "email": user.email,
        "roles": sorted(user.roles),
        "active": user.active,
    }


def create_user(
    session: Session,
    actor: User | None,
    username: str,
    name: str,
    roles: set[str],
    password: str,
    *,
    position: str = "",
    department: str = "",
    email: str = "",
) -> User:
    """Create a person with roles. `actor` None means the command line (an operator on the server)."""
    if actor is not None:
        _require(actor, USERS_MANAGE)
    key = normalise_username(username)
    if not key or len(key) > 64 or not all(c.isalnum() or c in "._-" for c in key):
        raise DomainError(N_("A username is letters, digits, dot, dash and underscore, at most 64."))
    if not (name or "").strip():
        raise DomainError(N_("A name is required."))
    if not roles:
        raise DomainError(N_("Choose at least one role."))
    if set(roles) - set(ROLES):
        raise DomainError(N_("Unknown role: %(roles)s"), roles=", ".join(sorted(set(roles) - set(ROLES))))
    check_password_strength(password)
    begin_write(session)
    if session.execute(select(User.id).where(User.username == key)).first():
        session.rollback()
        raise Conflict(N_("The username %(username)s is taken."), username=key)
    user = User(
        username=key,
        name=name.strip()[:200],
        position=position.strip()[:200],
        department=department.strip()[:200],
        email=email.strip()[:254],
        password_hash=_hasher.hash(password),
        active=True,
    )
    user.set_roles(set(roles))
    session.add(user)
    session.flush()
    recorder.record(session, actor, "user.created", user, {"after": _user_state(user)})
    session.commit()
    return user


def update_user(
    session: Session,
    actor: User,
    user_id: int,
    *,
    version: int,
    name: str,
    roles: set[str],
    position: str = "",
    department: str = "",
    email: str = "",
) -> User:
    """Change a person's details and roles; a stale form (someone saved first) is refused."""
    _require(actor, USERS_MANAGE)
    if not (name or "").strip():
        raise DomainError(N_("A name is required."))
    if not roles:
        raise DomainError(N_("Choose at least one role."))
    begin_write(session)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(N_("No such user."))
    if user.version != version:
        session.rollback()
        raise Conflict(N_("Someone else changed this user after you opened the form. Reload and try again."))
    if user.id == actor.id and "admin" not in roles:
        session.rollback()
        raise DomainError(N_("You cannot remove your own admin role."))
    before = _user_state(user)
    user.name, user.position = name.strip()[:200], position.strip()[:200]
    user.department, user.email = department.strip()[:200], email.strip()[:254]
    user.set_roles(set(roles))
    after = _user_state(user)
    if before == after:
        session.rollback()
        return user
    user.version += 1  # roles live in another table; bump so concurrent editors see the change
    session.flush()
    action = "user.roles_changed" if before["roles"] != after["roles"] else "user.updated"
    changed = [k for k in after if before[k] != after[k]]
    recorder.record(
        session,
        actor,
        action,
        user,
        {"before": {k: before[k] for k in changed}, "after": {k: after[k] for k in changed}},
    )
    session.commit()
    return user


def set_user_active(session: Session, actor: User, user_id: int, active: bool) -> User:
    """Deactivate (every session ends at once) or reactivate a person. People are never deleted."""
    _require(actor, USERS_MANAGE)
    if user_id == actor.id and not active:
        raise DomainError(N_("You cannot deactivate yourself."))
    begin_write(session)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(N_("No such user."))
    if user.active == active:
        session.rollback()
        return user
    user.active = active
    if not active:
        _revoke_all(session, user.id)
    recorder.record(
        session,
        actor,
        "user.activated" if active else "user.deactivated",
        user,
        {"before": {"active": not active}, "after": {"active": active}},
    )
    session.commit()
    return user


def reset_password(session: Session, actor: User, user_id: int, new_password: str) -> None:
    """An admin sets a new password for someone; their sessions end."""
    _require(actor, USERS_MANAGE)
    check_password_strength(new_password)
    begin_write(session)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(N_("No such user."))
    user.password_hash = _hasher.hash(new_password)
    _revoke_all(session, user.id)
    recorder.record(session, actor, "user.password_reset", user, {})
    session.commit()


def set_language(session: Session, user: User, language: str) -> None:
    """Remember a person's language. `users` is an audited table, so a change is recorded (no-ops are not)."""
    if language not in ("th", "en"):
        raise DomainError(N_("Unknown language."))
    begin_write(session)
    before = session.execute(select(User.language).where(User.id == user.id)).scalar_one_or_none()
    if before is None or before == language:
        session.rollback()
        return
    session.execute(
        update(User).where(User.id == user.id).values(language=language).execution_options(synchronize_session=False)
    )
    recorder.record(
        session, user, "user.language_changed", user, {"before": {"language": before}, "after": {"language": language}}
    )
    session.commit()


# --- settings ------------------------------------------------------------------------------------


# The settings each process read, per database (engine): (version token, values). The token is read on
# every request (with the signed-in user, or alone) and the values again only when it has changed; the
# database's triggers change it with every change to `settings` (migration 0015). The token is random, so
# values cached under a token that then rolled back, or under one read just before another process's
# change, are never served: that token is never seen again.
_SETTINGS: weakref.WeakKeyDictionary[Engine | Connection, tuple[str, dict[str, Any]]] = weakref.WeakKeyDictionary()


def _settings_token():
    return select(SettingsVersion.token).where(SettingsVersion.id == 1).scalar_subquery()


def settings_token(session: Session) -> str | None:
    """The current version token of the settings (one small statement)."""
    return session.execute(select(_settings_token())).scalar()


def get_settings(session: Session, token: str | None = None) -> dict[str, Any]:
    """The agency settings (defaults for keys never set). `token` is the version token when the caller
    has read it already in this transaction (the login loader does); otherwise it is read here."""
    if token is None:
        token = settings_token(session)
    engine = session.get_bind()
    cached = _SETTINGS.get(engine) if token is not None else None
    if cached is None or cached[0] != token:
        rows = session.execute(select(Setting.key, Setting.value)).all()
        values = {**DEFAULT_SETTINGS, **{k: v for k, v in rows}}
        if token is not None:
            _SETTINGS[engine] = cached = (token, values)
        else:
            return values
    # a copy, so that no caller can change what the next request reads
    return {k: copy.deepcopy(v) if isinstance(v, dict | list) else v for k, v in cached[1].items()}


def update_settings(session: Session, actor: User | None, values: dict[str, Any]) -> dict[str, Any]:
    """Change agency settings; the entry records each changed key before and after."""
    if actor is not None:
        _require(actor, SETTINGS_MANAGE)
    unknown = set(values) - set(DEFAULT_SETTINGS)
    if unknown:
        raise DomainError(N_("Unknown settings: %(keys)s"), keys=", ".join(sorted(unknown)))
    begin_write(session)
    current = get_settings(session)
    changed = {k: v for k, v in values.items() if current.get(k) != v}
    if not changed:
        session.rollback()
        return current
    for key, value in changed.items():
        row = session.get(Setting, key)
        if row is None:
            session.add(Setting(key=key, value=value))
        else:
            row.value = value
    recorder.record(
        session,
        actor,
        "settings.changed",
        ("settings", "agency"),
        {"before": {k: current.get(k) for k in changed}, "after": changed},
    )
    session.commit()
    return {**current, **changed}
