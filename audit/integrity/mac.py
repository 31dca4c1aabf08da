"""The MAC of each entry: HMAC-SHA256 under a key kept outside the database (AUDIT_MAC_KEY).

    mac = lowercase hex of HMAC-SHA256(key, the entry's `hash` as 64 ASCII hex digits)

The entry's hash covers its whole canonical text, its number and the previous hash, so the MAC binds all
of it; the canonical text itself is unchanged. The key file holds the 32 key bytes as 64 hex digits (and a
newline). It lives outside the database and outside the backups: whoever can write the database but not
read this file cannot add an entry that passes `audit verify`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_cache: dict[str, bytes | None] = {}


class MacKeyError(RuntimeError):
    """AUDIT_MAC_KEY is configured but its file cannot be read as a key."""


def mac_of(key: bytes, entry_hash: str) -> str:
    """The MAC of an entry with this hash."""
    return hmac.new(key, entry_hash.encode("ascii"), hashlib.sha256).hexdigest()


def load_key(path: str | os.PathLike | None) -> bytes | None:
    """The key from its file (64 hex digits), or None when none is configured."""
    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError) as err:
        raise MacKeyError(f"AUDIT_MAC_KEY ({path}) cannot be read as a key: {err}") from None
    if len(key) < 32:
        raise MacKeyError(f"AUDIT_MAC_KEY ({path}) is shorter than 32 bytes")
    return key


def write_new_key(path: str | os.PathLike) -> bytes:
    """Create a new 32-byte key as a file readable by its owner only; refuse to overwrite."""
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex() + "\n")
    return key


def configured_key(config: Any) -> bytes | None:
    """The key named by the configuration's AUDIT_MAC_KEY (read once per path), or None."""
    path = config.get("AUDIT_MAC_KEY") if config is not None else None
    if not path:
        return None
    key = _cache.get(str(path))
    if key is None:
        key = _cache[str(path)] = load_key(path)
    return key


def current_key() -> bytes | None:
    """The app's MAC key, when there is an app and it has one configured."""
    from flask import current_app, has_app_context

    return configured_key(current_app.config) if has_app_context() else None


def mac_for(entry_hash: str) -> str | None:
    """The MAC of a new entry under the app's key, or None without one (what `audit.record` stores)."""
    key = current_key()
    return mac_of(key, entry_hash) if key else None


def check(
    rows: Iterable[tuple[Any, str, str | None]], key: bytes, watch: Iterable[int] = ()
) -> tuple[int | None, int | None, frozenset[int], bool]:
    """Over (seq, hash, mac) in sequence order: the first entry with a MAC, the first one after it without
    a valid MAC, which of the `watch` entries have a valid MAC, and whether any entry has a MAC at all."""
    watch = set(watch)
    first = bad = None
    valid = set()
    for seq, stored, mac in rows:
        try:
            ok = bool(mac and hmac.compare_digest(mac_of(key, stored), mac))
        except (AttributeError, TypeError, UnicodeError):  # a value the writer never stores
            ok = False
        if ok and seq in watch:
            valid.add(seq)
        if first is None:
            if mac:
                first = seq
                if not ok:
                    bad = seq
                    break
            continue
        if not ok:
            bad = seq
            break
    return first, bad, frozenset(valid), first is not None
