"""The canonical encoding of an entry and its hash. Documented in docs/audit-log.md; frozen by test vectors.

canonical(entry) = JSON of the object below with keys sorted, no spaces (separators "," and ":"),
non-ASCII written as UTF-8 (not escaped), every string NFC-normalised; hash = SHA-256 hex of its UTF-8.

    {"action", "actor", "actor_id", "at", "data", "ip", "prev_hash", "request_id", "seq",
     "subject_id", "subject_type", "user_agent"}

`at` is UTC as "YYYY-MM-DDTHH:MM:SS.ffffffZ"; `data` is the parsed data object (itself canonical).

The writer stores every text field in NFC and `data` as exactly its canonical JSON, so the canonical text of
a stored entry can also be assembled from the stored values without re-encoding them (`canonical_stored`,
which verification uses); a value stored in any other form was not written by the writer and counts as
changed.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

GENESIS_HASH = "0" * 64  # the `prev_hash` of the first entry

# The fields an entry's hash covers, in the order of the canonical JSON (keys sorted).
HASHED_FIELDS = (
    "action",
    "actor",
    "actor_id",
    "at",
    "data",
    "ip",
    "prev_hash",
    "request_id",
    "seq",
    "subject_id",
    "subject_type",
    "user_agent",
)
_json_string = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) writes for a str


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


def canonical(fields: Mapping[str, Any]) -> str:
    obj = {
        "seq": int(fields["seq"]),
        "at": at_text(fields["at"]),
        "actor_id": fields.get("actor_id"),
        "actor": fields.get("actor") or "",
        "action": fields["action"],
        "subject_type": fields.get("subject_type") or "",
        "subject_id": fields.get("subject_id") or "",
        "data": (json.loads(fields["data"]) if isinstance(fields.get("data"), str) else (fields.get("data") or {})),
        "ip": fields.get("ip") or "",
        "user_agent": fields.get("user_agent") or "",
        "request_id": fields.get("request_id") or "",
        "prev_hash": fields["prev_hash"],
    }
    return dumps(obj)


def entry_hash(fields: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(fields).encode("utf-8")).hexdigest()


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def at_text(value: datetime | str) -> str:
    """An entry's time as hashed, from a datetime or the text a database returns for it."""
    if isinstance(value, datetime):
        return format_at(value)
    text = str(value)
    # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" (UTC, no offset): reshape it without parsing.
    if len(text) == 26 and text[10] == " " and text[19] == ".":
        return f"{text[:10]}T{text[11:]}Z"
    if text.endswith("Z") and len(text) == 27 and text[10] == "T":
        return text
    return format_at(datetime.fromisoformat(text))


def canonical_stored(row: Mapping[str, Any], seq: int | None = None) -> str:
    """The canonical text of a stored entry, assembled from its stored values without re-encoding them.

    Text fields go in as JSON strings and `data` verbatim. The writer stores every text field in NFC and
    `data` as exactly its canonical JSON, so for an untouched entry this is `canonical(row)`; a value
    stored in any other form (re-ordered keys, added spaces, decomposed Thai) yields other text and thus
    another hash. Because every piece but `data` is a complete JSON string, and the stored `data` sits
    between fixed literals, text equal to the original can only come from values equal to the originals.
    `seq` overrides the stored number (to test whether an entry was renumbered).
    """
    enc = _json_string
    try:
        at = row["at"]
        if at.__class__ is str and len(at) == 26 and at[10] == " ":
            at = f"{at[:10]}T{at[11:]}Z"  # as SQLite keeps it: UTC without an offset
        elif not (at.__class__ is str and len(at) == 27 and at[26] == "Z"):
            at = at_text(at)
        actor_id = row["actor_id"]
        return (
            f'{{"action":{enc(row["action"])},"actor":{enc(row["actor"])},'
            f'"actor_id":{"null" if actor_id is None else int(actor_id)},'
            f'"at":"{at}","data":{row["data"]},'
            f'"ip":{enc(row["ip"])},"prev_hash":{enc(row["prev_hash"])},'
            f'"request_id":{enc(row["request_id"])},"seq":{int(row["seq"] if seq is None else seq)},'
            f'"subject_id":{enc(row["subject_id"])},"subject_type":{enc(row["subject_type"])},'
            f'"user_agent":{enc(row["user_agent"])}}}'
        )
    except (TypeError, ValueError, AttributeError):  # a value of a type the writer never stores: tampered
        return repr(sorted((str(k), repr(v)) for k, v in row.items()))


def fields_of(entry: Any) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at,
        "actor_id": entry.actor_id,
        "actor": entry.actor,
        "action": entry.action,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "data": entry.data,
        "ip": entry.ip,
        "user_agent": entry.user_agent,
        "request_id": entry.request_id,
        "prev_hash": entry.prev_hash,
    }
