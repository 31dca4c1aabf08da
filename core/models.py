"""People, their login sessions, agency settings and stored files."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Audited, Model, utcnow
from core.people.permissions import ROLES, permissions_for


class User(Audited, UserMixin, Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[str] = mapped_column(String(200), default="")
    department: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(5), default="th")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    # The signed-in user's come with it in one statement (core.people.signin.load_session_user); pages that list
    # loans leave their borrowers' unloaded (lending.loans.queries.NO_BORROWER_ROLES).
    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    __mapper_args__ = {"version_id_col": version}

    # Set by the login loader: which login session this object was loaded for.
    current_session_token = None  # type: str | None

    @property
    def roles(self) -> set[str]:
        return {r.role for r in self.role_rows}

    def set_roles(self, roles: set[str]) -> None:
        unknown = set(roles) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown roles: {sorted(unknown)}")
        keep = [r for r in self.role_rows if r.role in roles]
        have = {r.role for r in keep}
        self.role_rows[:] = keep + [UserRole(role=r) for r in sorted(roles - have)]

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def can(self, permission: str) -> bool:
        return self.active and permission in permissions_for(self.roles)

    def held_permissions(self) -> frozenset[str]:
        """Everything the user may do now: their roles' permissions; none while the account is inactive."""
        return permissions_for(self.roles) if self.active else frozenset()

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str | None:  # Flask-Login stores the login session, not the user id
        return self.current_session_token

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class UserRole(Model):
    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    user: Mapped[User] = relationship(back_populates="role_rows")


class LoginSession(Model):
    """One login. Revoking it ends the session server-side, whatever the cookie says."""

    __tablename__ = "login_sessions"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    user: Mapped[User] = relationship()


THROTTLE_USER_ADDRESS, THROTTLE_ADDRESS, THROTTLE_USER = "user_address", "address", "user"


class LoginThrottle(Model):
    """Failed logins counted in one scope: per (username, address), per address, or per username from
    anywhere (usernames known or not, so the throttle reveals nothing)."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    username: Mapped[str] = mapped_column(String(64), default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    @staticmethod
    def key_of(scope: str, username: str = "", address: str = "") -> str:
        return f"{scope}:{username}:{address}"


class Setting(Audited, Model):
    """Agency settings, one JSON value per key (agency name, district, policy thresholds ...)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class SettingsVersion(Model):
    """One row: a token that the database's triggers change with every change to `settings`
    (migration 0015), so a process knows its cached settings are current by reading one value."""

    __tablename__ = "settings_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(32))


class StoredFile(Model):
    """A file in the content-addressed store: named on disk by its SHA-256, stored once."""

    __tablename__ = "stored_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mime: Mapped[str] = mapped_column(String(100))
    original_name: Mapped[str] = mapped_column(String(255), default="")
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FormToken(Model):
    """A create form's one-time token, stored with the record its first submission created.

    The token is made when the form is shown (nothing is written then) and stored in the transaction
    that creates the record; the primary key makes a second submission — a replay, or the same form
    sent twice at the same instant — fail there, and the first result is shown instead."""

    __tablename__ = "form_tokens"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    action: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    record_type: Mapped[str] = mapped_column(String(40), default="")
    record_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Job(Model):
    """Long work run by the job service (imports, label sheets, exports, documents, verification).

    The id is a random token, so a job's page cannot be guessed; only its owner sees it. Progress while it
    runs is kept by the queue (core.jobs), the final figures here; a result file is in the file store.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    params: Mapped[Any] = mapped_column(JSON, default=dict)
    lang: Mapped[str] = mapped_column(String(5), default="th")
    status: Mapped[str] = mapped_column(String(10), default="queued")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(String(300), default="")  # an English msgid, shown translated
    message_params: Mapped[Any] = mapped_column(JSON, default=dict)
    outcome: Mapped[Any] = mapped_column(JSON, default=dict)  # what the job found, for its result page
    result_sha256: Mapped[str | None] = mapped_column(ForeignKey("stored_files.sha256"), nullable=True)
    result_name: Mapped[str] = mapped_column(String(255), default="")
    error: Mapped[str] = mapped_column(String(500), default="")  # an English msgid
    error_params: Mapped[Any] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
