"""Audit entries form a chain: each hash covers the entry's content and the previous hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from audit.integrity.chain import GENESIS_HASH
from core.db import Audited, Model

__all__ = ["GENESIS_HASH", "AuditCheckpoint", "AuditEntry", "AuditHead"]


class AuditEntry(Model):
    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_subject", "subject_type", "subject_id", "seq"),
        Index("ix_audit_actor_seq", "actor_id", "seq"),
        Index("ix_audit_action_seq", "action", "seq"),
        Index("ix_audit_at", "at"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    actor: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(64), default="")
    subject_id: Mapped[str] = mapped_column(String(64), default="")
    data: Mapped[str] = mapped_column(Text, default="{}")  # canonical JSON text, exactly as hashed
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # HMAC-SHA256 of `hash` under AUDIT_MAC_KEY (see audit.integrity.mac); null for entries written without the key.
    mac: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None)


class AuditHead(Model):
    """One row: the chain's head. Writers lock it, so entries are appended one at a time."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


class AuditCheckpoint(Audited, Model):
    """A recorded head of the chain (sequence number and hash) at a moment, optionally signed (Ed25519).

    Append-only like the entries (database triggers refuse UPDATE and DELETE); each one is also appended
    to a small file outside the database, so that a database restored from an older backup, or rewritten,
    is caught against it.
    """

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    signature: Mapped[str] = mapped_column(String(200), default="")  # base64 Ed25519 signature, or ""
    key_id: Mapped[str] = mapped_column(String(64), default="")
