"""The canonical encoding of an entry and its hash. Documented in docs/audit-log.md; frozen by test vectors.

canonical(entry) = JSON of the object below with keys sorted, no spaces (separators "," and ":"),
non-ASCII written as UTF-8 (not escaped), every string NFC-normalised; hash = SHA-256 hex of its UTF-8.

    {"action", "actor", "actor_id", "at", "data", "ip", "prev_hash", "request_id", "seq",
     "subject_id", "subject_type", "user_agent"}

`at` is UTC as "YYYY-MM-DDTHH:MM:SS.ffffffZ"; `data` is the parsed data object (itself canonical).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {_nfc(k): _nfc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nfc(v) for v in value]
    return value


def jsonable(value: Any) -> Any:
    """Plain JSON values: Decimal and dates become strings, sets sorted lists."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return format_at(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(_nfc(jsonable(value)), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def format_at(at: datetime) -> str:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(fields: dict[str, Any]) -> str:
    obj = {
        "seq": int(fields["seq"]),
        "at": format_at(fields["at"]) if isinstance(fields["at"], datetime) else fields["at"],
        "actor_id": fields.get("actor_id"),
        "actor": fields.get("actor") or "",
        "action": fields["action"],
        "subject_type": fields.get("subject_type") or "",
        "subject_id": fields.get("subject_id") or "",
        "data": json.loads(fields["data"]) if isinstance(fields.get("data"), str) else (fields.get("data") or {}),
        "ip": fields.get("ip") or "",
        "user_agent": fields.get("user_agent") or "",
        "request_id": fields.get("request_id") or "",
        "prev_hash": fields["prev_hash"],
    }
    return dumps(obj)


def entry_hash(fields: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(fields).encode("utf-8")).hexdigest()


def fields_of(entry: Any) -> dict[str, Any]:
    return {
        "seq": entry.seq, "at": entry.at, "actor_id": entry.actor_id, "actor": entry.actor,
        "action": entry.action, "subject_type": entry.subject_type, "subject_id": entry.subject_id,
        "data": entry.data, "ip": entry.ip, "user_agent": entry.user_agent,
        "request_id": entry.request_id, "prev_hash": entry.prev_hash,
    }
