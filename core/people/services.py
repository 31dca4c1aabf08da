"""People and the agency settings: passwords, creating and changing a person, their roles, activation and
language; reading and changing the settings. One function per action, each recording its audit entry.
Signing in and out is core/people/signin.py's."""

from __future__ import annotations

import copy
import weakref
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from core import recorder
from core.db import N_, Conflict, DomainError, NotFound, Session, utcnow, write
from core.models import LoginSession, Setting, SettingsVersion, User
from core.people.permissions import ROLES, SETTINGS_MANAGE, USERS_MANAGE, ensure_permission

# Argon2id with OWASP's recommended minimum (19 MiB, 2 passes): a login costs a worker 19 MiB for a
# moment rather than the library default's 64 MiB, which matters with two workers on a small server.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Does ``password`` match ``password_hash``? A hash that cannot be read matches nothing."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Was the hash made with weaker parameters than the hasher's own (to be hashed again at a login)?"""
    return _hasher.check_needs_rehash(password_hash)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise DomainError(N_("The password must be at least %(n)d characters."), n=MIN_PASSWORD)
    if len(password) > 256:
        raise DomainError(N_("The password is too long (256 characters at most)."))


def normalise_username(username: str) -> str:
    return (username or "").strip().lower()


def revoke_sessions(session: Session, user_id: int) -> None:
    """End every login session of a person (their password changed, or they were deactivated)."""
    session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


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
        ensure_permission(actor, USERS_MANAGE)
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
    with write(session):
        if session.execute(select(User.id).where(User.username == key)).first():
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
    ensure_permission(actor, USERS_MANAGE)
    if not (name or "").strip():
        raise DomainError(N_("A name is required."))
    if not roles:
        raise DomainError(N_("Choose at least one role."))
    with write(session):
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(N_("No such user."))
        if user.version != version:
            raise Conflict(N_("Someone else changed this user after you opened the form. Reload and try again."))
        if user.id == actor.id and "admin" not in roles:
            raise DomainError(N_("You cannot remove your own admin role."))
        before = _user_state(user)
        user.name, user.position = name.strip()[:200], position.strip()[:200]
        user.department, user.email = department.strip()[:200], email.strip()[:254]
        user.set_roles(set(roles))
        after = _user_state(user)
        if before == after:
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
    ensure_permission(actor, USERS_MANAGE)
    if user_id == actor.id and not active:
        raise DomainError(N_("You cannot deactivate yourself."))
    with write(session):
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(N_("No such user."))
        if user.active == active:
            return user
        user.active = active
        if not active:
            revoke_sessions(session, user.id)
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
    ensure_permission(actor, USERS_MANAGE)
    check_password_strength(new_password)
    with write(session):
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(N_("No such user."))
        user.password_hash = _hasher.hash(new_password)
        revoke_sessions(session, user.id)
        recorder.record(session, actor, "user.password_reset", user, {})
        session.commit()


def set_language(session: Session, user: User, language: str) -> None:
    """Remember a person's language. `users` is an audited table, so a change is recorded (no-ops are not)."""
    if language not in ("th", "en"):
        raise DomainError(N_("Unknown language."))
    with write(session):
        before = session.execute(select(User.language).where(User.id == user.id)).scalar_one_or_none()
        if before is None or before == language:
            return
        session.execute(
            update(User)
            .where(User.id == user.id)
            .values(language=language)
            .execution_options(synchronize_session=False)
        )
        recorder.record(
            session,
            user,
            "user.language_changed",
            user,
            {"before": {"language": before}, "after": {"language": language}},
        )
        session.commit()


# --- settings ------------------------------------------------------------------------------------


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


# The settings each process read, per database (engine): (version token, values). The token is read on
# every request (with the signed-in user, or alone) and the values again only when it has changed; the
# database's triggers change it with every change to `settings` (migration 0015). The token is random, so
# values cached under a token that then rolled back, or under one read just before another process's
# change, are never served: that token is never seen again.
_SETTINGS: weakref.WeakKeyDictionary[Engine | Connection, tuple[str, dict[str, Any]]] = weakref.WeakKeyDictionary()


def settings_token_query():
    """The settings' version token as a scalar subquery, to read with other things in one statement."""
    return select(SettingsVersion.token).where(SettingsVersion.id == 1).scalar_subquery()


def settings_token(session: Session) -> str | None:
    """The current version token of the settings (one small statement)."""
    return session.execute(select(settings_token_query())).scalar()


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
        ensure_permission(actor, SETTINGS_MANAGE)
    unknown = set(values) - set(DEFAULT_SETTINGS)
    if unknown:
        raise DomainError(N_("Unknown settings: %(keys)s"), keys=", ".join(sorted(unknown)))
    with write(session):
        current = get_settings(session)
        changed = {k: v for k, v in values.items() if current.get(k) != v}
        if not changed:
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
