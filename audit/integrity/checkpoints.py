"""Checkpoints outside the database: the Ed25519 signing key (a PEM file) and the append-only checkpoint file.

A checkpoint says "at this time the chain's head was entry SEQ with hash HASH". The statement that is signed
is the UTF-8 of

    khruphan-audit-checkpoint:{"at":"…Z","hash":"…","seq":N}

(canonical JSON: keys sorted, no spaces). The key id is the first 16 hex digits of the SHA-256 of the raw
32-byte public key. Each checkpoint is also one line of canonical JSON in the checkpoint file (by default
next to the file store: `audit-checkpoints.jsonl`), written with O_APPEND and fsync before the database
commits, so that neither a database restored from an older backup nor one rewritten by someone who dropped
its triggers can disown a checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.integrity.chain import dumps
from audit.integrity.verify import Checkpoint

PREFIX = b"khruphan-audit-checkpoint:"
LOG_NAME = "audit-checkpoints.jsonl"


class CheckpointLogError(RuntimeError):
    """The checkpoint file cannot be read: a damaged line is itself a sign of tampering."""


def statement(seq: int, hash_: str, at: str) -> bytes:
    """The bytes a checkpoint's signature covers."""
    return PREFIX + dumps({"at": at, "hash": hash_, "seq": int(seq)}).encode("utf-8")


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id_of(self.public)

    def sign(self, seq: int, hash_: str, at: str) -> str:
        return base64.b64encode(self.private.sign(statement(seq, hash_, at))).decode("ascii")

    def check(self, cp: Checkpoint) -> bool | None:
        """True or False for a checkpoint signed with this key; None for another key's signature."""
        if cp.key_id and cp.key_id != self.key_id:
            return None
        try:
            signature = base64.b64decode(cp.signature, validate=True)
            self.public.verify(signature, statement(cp.seq, cp.hash, cp.at))
        except (InvalidSignature, ValueError):
            return False
        return True


def load_signing_key(path: str | os.PathLike | None) -> SigningKey | None:
    """The Ed25519 private key from a PEM file (AUDIT_SIGNING_KEY), or None when none is configured."""
    if not path:
        return None
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return SigningKey(key)


def write_new_key(path: str | os.PathLike) -> SigningKey:
    """Create a new Ed25519 private key as a PEM file readable by its owner only; refuse to overwrite."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return SigningKey(key)


def fingerprint_of(public_key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key in hex, as 16 groups of four digits, so
    that it can be read aloud and compared on paper."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    digest = hashlib.sha256(raw).hexdigest()
    return " ".join(digest[i : i + 4] for i in range(0, 64, 4))


def fingerprint(key: SigningKey) -> str:
    return fingerprint_of(key.public)


def configured_fingerprint(config: Any) -> str:
    """The fingerprint of the configured AUDIT_SIGNING_KEY, or "" when none is configured or readable."""
    try:
        key = load_signing_key(config.get("AUDIT_SIGNING_KEY"))
    except (OSError, ValueError):
        return ""
    return fingerprint(key) if key is not None else ""


def public_pem(key: SigningKey) -> str:
    return key.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(
        "ascii"
    )


def log_path(config: Mapping[str, Any]) -> Path:
    """AUDIT_CHECKPOINT_LOG, or audit-checkpoints.jsonl beside the file store (instance/ by default)."""
    configured = config.get("AUDIT_CHECKPOINT_LOG")
    if configured:
        return Path(configured)
    return Path(config["EVIDENCE_DIR"]).resolve().parent / LOG_NAME


def line_of(cp: Checkpoint) -> str:
    return dumps({"at": cp.at, "hash": cp.hash, "key_id": cp.key_id, "seq": int(cp.seq), "signature": cp.signature})


def append(path: Path, cp: Checkpoint) -> None:
    """Append one checkpoint line and make it durable before the caller commits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, (line_of(cp) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def read(path: Path) -> list[Checkpoint]:
    """Every checkpoint in the file (none if it does not exist); a damaged line raises CheckpointLogError."""
    if not path.exists():
        return []
    out = []
    with path.open("r", encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                out.append(
                    Checkpoint(
                        seq=int(obj["seq"]),
                        hash=str(obj["hash"]),
                        at=str(obj["at"]),
                        signature=str(obj.get("signature") or ""),
                        key_id=str(obj.get("key_id") or ""),
                        source="file",
                    )
                )
            except (ValueError, KeyError, TypeError) as err:
                raise CheckpointLogError(f"{path}, line {number}: {err}") from None
    return out
