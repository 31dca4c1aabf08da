"""Configuration: defaults, then the environment, then explicit overrides (tests)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

ENV_KEYS = (
    "DATABASE_URL",
    "MIGRATE_DATABASE_URL",
    "SECRET_KEY",
    "BASE_URL",
    "EVIDENCE_DIR",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USER",
    "SMTP_PASSWORD",
    "SMTP_FROM",
    "SMTP_STARTTLS",
    "OUTBOX_DIR",
    "MAX_UPLOAD_MB",
    "AUDIT_SIGNING_KEY",
    "AUDIT_CHECKPOINT_LOG",
    "AUDIT_MAC_KEY",
    "REDIS_URL",
    "JOBS_DB",
    "JOBS_IMMEDIATE",
    "JOBS_WORKERS",
    "JOBS_ATTEMPTS",
)

# Bounded parsing of uploaded and imported files (core/documents/archives.py), each settable in the environment.
# A legitimate 200,000-row XLSX written with inline strings unpacks to about 205 MB at a ratio near 14.
PARSING_LIMITS: dict[str, int | float] = {
    "MAX_ARCHIVE_ENTRIES": 20_000,  # entries of one ZIP (XLSX, DOCX)
    "MAX_ENTRY_MB": 256,  # one entry, unpacked
    "MAX_TOTAL_UNCOMPRESSED_MB": 512,  # the whole archive, unpacked
    "MAX_COMPRESSION_RATIO": 100,  # unpacked / packed, for entries (and archives) over 1 MB
    "MAX_SHEETS": 100,  # sheets of one workbook
    "MAX_IMPORT_ROWS": 200_000,  # data rows of an import (the header not counted)
    "MAX_IMPORT_CELLS": 3_000_000,  # cells of an import, counted as the rows are read
    "MAX_SHARED_STRINGS": 1_000_000,  # distinct texts of a workbook (read whole by openpyxl)
}


def _secret_key(instance: Path) -> str:
    """A persistent random key under instance/, so a fresh install is safe without configuration."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def database_uri(url: str) -> str:
    """A database URL as SQLAlchemy wants it: PostgreSQL through psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def load_config(instance_path: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the app configuration; nothing here connects to anything."""
    instance = Path(instance_path)
    overrides = dict(overrides or {})
    env = {k: os.environ[k] for k in (*ENV_KEYS, *PARSING_LIMITS) if os.environ.get(k)}
    merged: dict[str, Any] = {**env, **overrides}

    db_url = database_uri(merged.get("DATABASE_URL") or f"sqlite:///{instance / 'khruphan.sqlite3'}")
    # PostgreSQL only: the owner role that runs migrations (and restore), while DATABASE_URL is the app's
    # role, which owns nothing (README, "Running in production"). SQLite has no roles: it is ignored there.
    migrate_url = database_uri(merged.get("MIGRATE_DATABASE_URL") or "")
    if not (db_url.startswith("postgresql") and migrate_url.startswith("postgresql")):
        migrate_url = ""
    base_url = (merged.get("BASE_URL") or "http://127.0.0.1:5000").rstrip("/")
    secure = base_url.startswith("https://")
    max_mb = float(merged.get("MAX_UPLOAD_MB") or 25)

    config: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": db_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "MIGRATE_DATABASE_URI": migrate_url,
        "SECRET_KEY": merged.get("SECRET_KEY") or _secret_key(instance),
        "BASE_URL": base_url,
        "EVIDENCE_DIR": merged.get("EVIDENCE_DIR") or str(instance / "files"),
        "SMTP_HOST": merged.get("SMTP_HOST", ""),
        "SMTP_PORT": int(merged.get("SMTP_PORT") or 25),
        "SMTP_USER": merged.get("SMTP_USER", ""),
        "SMTP_PASSWORD": merged.get("SMTP_PASSWORD", ""),
        "SMTP_FROM": merged.get("SMTP_FROM") or "khruphan@localhost",
        "SMTP_STARTTLS": str(merged.get("SMTP_STARTTLS", "")).lower() in ("1", "true", "yes"),
        "OUTBOX_DIR": merged.get("OUTBOX_DIR") or str(instance / "outbox"),
        "AUDIT_SIGNING_KEY": merged.get("AUDIT_SIGNING_KEY", ""),
        "AUDIT_CHECKPOINT_LOG": merged.get("AUDIT_CHECKPOINT_LOG", ""),
        "AUDIT_MAC_KEY": merged.get("AUDIT_MAC_KEY", ""),  # a key file outside the database and backups
        "MAX_CONTENT_LENGTH": int(max_mb * 1024 * 1024),
        # the job service (core.jobs): Redis in production, else a SQLite queue file beside the database
        "REDIS_URL": merged.get("REDIS_URL", ""),
        "JOBS_DB": merged.get("JOBS_DB") or str(instance / "jobs.sqlite3"),
        "JOBS_IMMEDIATE": str(merged.get("JOBS_IMMEDIATE", "")).lower() in ("1", "true", "yes"),
        "JOBS_WORKERS": int(merged.get("JOBS_WORKERS") or 2),
        "JOBS_ATTEMPTS": int(merged.get("JOBS_ATTEMPTS") or 2),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": secure,
        "PREFERRED_URL_SCHEME": "https" if secure else "http",
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "th",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Bangkok",
        "BOOTSTRAP_SERVE_LOCAL": True,
        "LOGIN_SLOWDOWN_AFTER": 3,
        "LOGIN_LOCK_AFTER": 10,
        "LOGIN_LOCK_MINUTES": 15,
        # Beside the count per (username, address) above: every username tried from one address, and one
        # username from every address, each within a window, so guessing from one place cannot lock the
        # owner out from another, and guessing from many places is still bounded.
        "LOGIN_ADDRESS_LOCK_AFTER": 30,
        "LOGIN_USER_LOCK_AFTER": 100,
        "LOGIN_WINDOW_MINUTES": 15,
        "PAGE_SIZE": 50,
    }
    for key, default in PARSING_LIMITS.items():
        raw = merged.get(key)
        config[key] = type(default)(float(raw)) if raw not in (None, "") else default
    for key, value in overrides.items():
        if key not in ("DATABASE_URL", "MIGRATE_DATABASE_URL", "BASE_URL"):
            config[key] = value
    return config
