"""The audit chain's encoding (frozen test vectors) and the pure walk that verifies a chain.

The vectors were computed once with the encoding documented in docs/audit-log.md and frozen here: a change
to key order, the time format, Unicode normalisation, the rendering of Decimal or dates — anything that
changes a hash — turns these red. Never update an expected hash to make a test pass: every chain already
written would stop verifying.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.integrity.chain import GENESIS_HASH, at_text, canonical, canonical_stored, dumps, entry_hash, hash_text
from audit.integrity.checkpoints import SigningKey, statement
from audit.integrity.verify import Checkpoint, walk

# --- frozen vectors ------------------------------------------------------------------------------

E1 = {
    "seq": 1,
    "at": datetime(2023, 10, 1, 1, 2, 3, 456789, tzinfo=UTC),
    "actor_id": None,
    "actor": "",
    "action": "asset.created",
    "subject_type": "assets",
    "subject_id": "1",
    "data": {
        "after": {
            "asset_number": "416-59-0001",
            "name": "เต็นท์ผ้าใบ ขนาด 4x8 เมตร",
            "price": Decimal("12500.00"),
            "acquired_on": date(2016, 6, 15),
            "lendable": True,
        }
    },
    "ip": "",
    "user_agent": "",
    "request_id": "",
    "prev_hash": GENESIS_HASH,
}
H1 = "2505ac84302be82c39c90e3a0f460639fcf034884a458d165d8056cc4b6e5a2e"
C1 = (
    '{"action":"asset.created","actor":"","actor_id":null,"at":"2023-10-01T01:02:03.456789Z","data":'
    '{"after":{"acquired_on":"2016-06-15","asset_number":"416-59-0001","lendable":true,'
    '"name":"เต็นท์ผ้าใบ ขนาด 4x8 เมตร","price":"12500.00"}},"ip":"","prev_hash":'
    '"0000000000000000000000000000000000000000000000000000000000000000","request_id":"","seq":1,'
    '"subject_id":"1","subject_type":"assets","user_agent":""}'
)

# Bangkok wall time (08:05 +07:00) is hashed as UTC (01:05Z); Decimal keeps its own digits.
E2 = {
    "seq": 2,
    "at": datetime(2023, 10, 1, 8, 5, 0, 0, tzinfo=ZoneInfo("Asia/Bangkok")),
    "actor_id": 7,
    "actor": "somsri",
    "action": "asset.updated",
    "subject_type": "assets",
    "subject_id": "1",
    "data": {
        "before": {"location": "ห้องเก็บของ", "price": Decimal("12500.00")},
        "after": {"location": "ห้องประชุมสภา", "price": Decimal("12000.5")},
    },
    "ip": "192.0.2.10",
    "user_agent": "Mozilla/5.0 (Linux; Android 14)",
    "request_id": "5f0c6e1d2b3a4c5d6e7f8091a2b3c4d5",
    "prev_hash": H1,
}
H2 = "892197663ca7fc5e269c2af2a66064bfdf6500c413de5c5bb094d29b506d5666"

# Thai with tone marks, a nested list with a dict, an escaped quote, null; time given as text.
E3 = {
    "seq": 3,
    "at": "2023-10-01T02:00:00.000001Z",
    "actor_id": 7,
    "actor": "somsri",
    "action": "loan.approved",
    "subject_type": "loans",
    "subject_id": "12",
    "data": {"note": "ปู่ใช้ที่นี่", "z": [1, 2, {"b": 2, "a": 1}], "reason": '=HYPERLINK("x")', "empty": None},
    "ip": "127.0.0.1",
    "user_agent": "",
    "request_id": "r3",
    "prev_hash": H2,
}
H3 = "c897c8da0da3c8bd4ef607541f99dec2b049d9d64957ee9259ee55e1b187601c"

# Latin text given decomposed (NFD): hashed composed (NFC).
E4 = {
    "seq": 4,
    "at": datetime(2023, 10, 1, 2, 0, 0, tzinfo=UTC),
    "actor_id": None,
    "actor": "",
    "action": "settings.changed",
    "subject_type": "settings",
    "subject_id": "agency",
    "data": {"after": {"agency_name": "Cafe\u0301 e\u0301"}},
    "ip": "",
    "user_agent": "",
    "request_id": "",
    "prev_hash": H3,
}
H4 = "1b9163e69b3c1ce31923fa63816d4e92c7524ce923ec37fc1b189420f78b4f85"


def test_the_canonical_text_of_an_entry_is_frozen():
    assert canonical(E1) == C1
    assert hash_text(C1) == H1


@pytest.mark.parametrize(
    "fields, expected",
    [(E1, H1), (E2, H2), (E3, H3), (E4, H4)],
    ids=["decimal-and-date", "bangkok-time-and-diff", "thai-nested-null", "nfd-latin"],
)
def test_the_hash_of_each_vector_is_frozen(fields, expected):
    assert entry_hash(fields) == expected


def test_thai_typed_with_marks_out_of_canonical_order_hashes_like_its_nfc_form():
    # ป + MAI EK + SARA UU is how some keyboards type ปู่; NFC puts SARA UU (ccc 103) before MAI EK (107).
    typed = "\u0e1b\u0e48\u0e39ใช้ที่นี่"
    assert typed != "ปู่ใช้ที่นี่"
    assert entry_hash({**E3, "data": {**E3["data"], "note": typed}}) == H3


def test_latin_nfc_input_hashes_like_the_decomposed_input():
    assert entry_hash({**E4, "data": {"after": {"agency_name": "Café é"}}}) == H4


def test_key_order_of_the_data_does_not_matter():
    reordered = {"z": [1, 2, {"a": 1, "b": 2}], "empty": None, "reason": '=HYPERLINK("x")', "note": "ปู่ใช้ที่นี่"}
    assert entry_hash({**E3, "data": reordered}) == H3


def test_a_list_keeps_its_order():
    assert entry_hash({**E3, "data": {**E3["data"], "z": [2, 1, {"a": 1, "b": 2}]}}) != H3


def test_the_same_instant_in_any_time_zone_or_naive_utc_hashes_alike():
    at = datetime(2023, 10, 1, 1, 2, 3, 456789)
    assert entry_hash({**E1, "at": at}) == H1
    assert entry_hash({**E1, "at": at.replace(tzinfo=UTC).astimezone(ZoneInfo("Asia/Bangkok"))}) == H1
    assert entry_hash({**E1, "at": "2023-10-01 01:02:03.456789"}) == H1  # as SQLite stores it


def test_decimal_digits_are_part_of_the_content():
    after = dict(E1["data"]["after"], price=Decimal("12500"))
    assert entry_hash({**E1, "data": {"after": after}}) != H1


def test_a_date_is_written_as_iso_and_differs_from_a_datetime():
    assert dumps({"d": date(2016, 6, 15)}) == '{"d":"2016-06-15"}'
    assert dumps({"d": datetime(2016, 6, 15, tzinfo=UTC)}) == '{"d":"2016-06-15T00:00:00.000000Z"}'


def test_the_time_is_written_in_utc_with_microseconds():
    bangkok = datetime(2023, 10, 1, 8, 0, tzinfo=ZoneInfo("Asia/Bangkok"))
    assert at_text(bangkok) == "2023-10-01T01:00:00.000000Z"
    assert at_text("2023-10-01 01:00:00.000000") == "2023-10-01T01:00:00.000000Z"
    assert at_text("2023-10-01T08:00:00+07:00") == "2023-10-01T01:00:00.000000Z"


# --- the stored form -----------------------------------------------------------------------------


def stored(fields: dict) -> dict:
    """An entry as the writer stores it: data as its canonical JSON text, every text NFC, plus the hash."""
    import unicodedata

    row = {k: (unicodedata.normalize("NFC", v) if isinstance(v, str) else v) for k, v in fields.items()}
    row["data"] = dumps(fields["data"])
    row["hash"] = entry_hash(fields)
    return row


@pytest.mark.parametrize("fields", [E1, E2, E3, E4])
def test_the_stored_form_reassembles_to_the_canonical_text(fields):
    row = stored(fields)
    assert canonical_stored(row) == canonical(fields)
    assert canonical_stored({**row, "at": at_text(row["at"]).replace("T", " ")[:-1]}) == canonical(fields)


def test_any_re_encoding_of_stored_data_changes_the_reassembled_text():
    row = stored(E2)
    spaced = row["data"].replace(":", ": ")
    assert canonical_stored({**row, "data": spaced}) != canonical(E2)
    assert canonical_stored({**row, "actor": "somsri\u0301"}) != canonical(E2)


# --- walking a chain -----------------------------------------------------------------------------


def make_chain(n: int, start: datetime = datetime(2024, 1, 1, tzinfo=UTC)) -> list[dict]:
    """n stored entries, linked, as the writer makes them."""
    from datetime import timedelta

    rows, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        fields = {
            "seq": seq,
            "at": start + timedelta(seconds=seq),
            "actor_id": seq % 3 or None,
            "actor": f"user{seq % 3}" if seq % 3 else "",
            "action": "asset.updated",
            "subject_type": "assets",
            "subject_id": str(seq % 7),
            "data": {"after": {"name": f"เก้าอี้ ตัวที่ {seq}"}, "before": {"name": "เก้าอี้"}},
            "ip": "10.0.0.1",
            "user_agent": "pytest",
            "request_id": f"r{seq}",
            "prev_hash": prev,
        }
        row = stored(fields)
        prev = row["hash"]
        rows.append(row)
    return rows


def rehash(rows: list[dict], start: int = 0) -> None:
    """Recompute hashes and links from index `start` on, as a forger who knows the encoding would."""
    prev = rows[start - 1]["hash"] if start else GENESIS_HASH
    for row in rows[start:]:
        row["prev_hash"] = prev
        row["hash"] = prev = hash_text(canonical_stored(row))


def forged(seq: int, prev: str) -> dict:
    row = {
        "seq": seq,
        "at": "2024-01-01T00:00:00.000000Z",
        "actor_id": None,
        "actor": "",
        "action": "loan.approved",
        "subject_type": "loans",
        "subject_id": "999",
        "data": '{"note":"ไม่เคยเกิดขึ้น"}',
        "ip": "",
        "user_agent": "",
        "request_id": "",
        "prev_hash": prev,
    }
    row["hash"] = hash_text(canonical_stored(row))
    return row


N = 30
POSITIONS = {"first": 1, "middle": 15, "last": N}


def head_of(rows: list[dict]) -> tuple[int, str]:
    return (rows[-1]["seq"], rows[-1]["hash"]) if rows else (0, GENESIS_HASH)


def test_a_clean_chain_verifies_with_its_count_and_head():
    rows = make_chain(N)
    result = walk(rows, [Checkpoint(10, rows[9]["hash"], "t")], head_of(rows))
    assert result.ok and result.problem is None
    assert (result.count, result.head_seq, result.head_hash) == (N, N, rows[-1]["hash"])
    assert result.checkpoints == 1


def test_an_empty_chain_verifies():
    assert walk([], [], (0, GENESIS_HASH)).ok


@pytest.mark.parametrize("where", POSITIONS)
def test_one_changed_character_is_named(where):
    rows = make_chain(N)
    k = POSITIONS[where]
    rows[k - 1]["data"] = rows[k - 1]["data"].replace("ตัวที่", "ตัวที")
    result = walk(rows, [], head_of(make_chain(N)))
    assert (result.problem.seq, result.problem.kind) == (k, "content_changed")


@pytest.mark.parametrize("where", POSITIONS)
def test_a_deleted_entry_is_named(where):
    rows = make_chain(N)
    head = head_of(rows)
    k = POSITIONS[where]
    del rows[k - 1]
    result = walk(rows, [], head)
    assert (result.problem.seq, result.problem.kind) == (k, "missing")


@pytest.mark.parametrize("where", POSITIONS)
def test_swapped_neighbours_are_named_by_the_first_of_the_pair(where):
    rows = make_chain(N)
    head = head_of(rows)
    k = min(POSITIONS[where], N - 1)
    rows[k - 1]["seq"], rows[k]["seq"] = rows[k]["seq"], rows[k - 1]["seq"]
    rows.sort(key=lambda r: r["seq"])
    result = walk(rows, [], head)
    assert (result.problem.seq, result.problem.kind) == (k, "order_changed")


@pytest.mark.parametrize("where", POSITIONS)
@pytest.mark.parametrize("valid_hash", [True, False], ids=["forger-hashes", "garbage-hash"])
def test_an_inserted_entry_with_later_ones_renumbered_is_named(where, valid_hash):
    rows = make_chain(N)
    head = head_of(rows)
    k = POSITIONS[where]
    for row in rows[k - 1 :]:
        row["seq"] += 1
    fake = forged(k, rows[k - 2]["hash"] if k > 1 else GENESIS_HASH)
    if not valid_hash:
        fake["hash"] = "f" * 64
    rows.insert(k - 1, fake)
    result = walk(rows, [], head)
    assert (result.problem.seq, result.problem.kind) == (k, "inserted")


@pytest.mark.parametrize("where", POSITIONS)
def test_an_inserted_entry_repeating_a_sequence_number_is_named(where):
    rows = make_chain(N)
    head = head_of(rows)
    k = POSITIONS[where]
    rows.insert(k - 1, forged(k, rows[k - 2]["hash"] if k > 1 else GENESIS_HASH))
    result = walk(rows, [], head)
    assert (result.problem.seq, result.problem.kind) == (k, "inserted")


def test_an_entry_appended_past_the_recorded_head_is_named():
    rows = make_chain(N)
    head = head_of(rows)
    rows.append(forged(N + 1, rows[-1]["hash"]))
    result = walk(rows, [], head)
    assert (result.problem.seq, result.problem.kind) == (N + 1, "inserted")


def test_a_deleted_last_entry_is_named_against_the_recorded_head():
    rows = make_chain(N)
    head = head_of(rows)
    result = walk(rows[:-1], [], head)
    assert (result.problem.seq, result.problem.kind) == (N, "missing")


@pytest.mark.parametrize("where", POSITIONS)
def test_a_tail_dropped_behind_a_checkpoint_is_named(where):
    rows = make_chain(N)
    cp = Checkpoint(N, rows[-1]["hash"], "2024-01-01T00:00:31.000000Z")
    k = POSITIONS[where]
    kept = rows[: k - 1]
    result = walk(kept, [cp], head_of(kept))  # the forger moved the head back too
    assert (result.problem.seq, result.problem.kind) == (k, "shorter")
    assert result.problem.params["checkpoint"] == N


@pytest.mark.parametrize("where", POSITIONS)
def test_history_rewritten_from_an_entry_on_is_caught_at_the_next_checkpoint(where):
    rows = make_chain(N)
    cps = [Checkpoint(s, rows[s - 1]["hash"], "t") for s in (10, 20, N)]
    k = POSITIONS[where]
    rows[k - 1]["data"] = rows[k - 1]["data"].replace("ตัวที่", "ตัวที")
    rehash(rows, k - 1)
    result = walk(rows, cps, head_of(rows))
    assert result.problem.kind == "rewritten"
    first, at_cp = result.problem.params["first"], result.problem.params["checkpoint"]
    assert first <= k <= at_cp
    assert at_cp == min(s for s in (10, 20, N) if s >= k)


def test_an_entry_changed_with_its_hash_recomputed_is_named_at_the_next_link():
    rows = make_chain(N)
    rows[9]["actor"] = "someone_else"
    rows[9]["hash"] = hash_text(canonical_stored(rows[9]))
    result = walk(rows, [], None)
    assert (result.problem.seq, result.problem.kind) == (10, "content_changed")


def test_an_entry_removed_with_later_ones_renumbered_is_named():
    rows = make_chain(N)
    del rows[11]
    for row in rows[11:]:
        row["seq"] -= 1
    result = walk(rows, [], None)
    assert (result.problem.seq, result.problem.kind) == (12, "missing")


def test_checkpoint_records_that_disagree_are_named():
    rows = make_chain(N)
    cps = [Checkpoint(10, rows[9]["hash"], "t", source="file"), Checkpoint(10, "e" * 64, "t")]
    result = walk(rows, cps, head_of(rows))
    assert (result.problem.seq, result.problem.kind) == (10, "checkpoint_conflict")


# --- signatures ----------------------------------------------------------------------------------


def test_a_signed_checkpoint_verifies_and_a_changed_one_does_not():
    key = SigningKey(Ed25519PrivateKey.generate())
    rows = make_chain(N)
    at = "2024-01-01T00:01:00.000000Z"
    good = Checkpoint(20, rows[19]["hash"], at, key.sign(20, rows[19]["hash"], at), key.key_id)
    assert key.check(good) is True
    assert walk(rows, [good], head_of(rows), key.check).ok
    moved = Checkpoint(20, rows[19]["hash"], "2024-01-01T00:02:00.000000Z", good.signature, key.key_id)
    assert key.check(moved) is False
    result = walk(rows, [moved], head_of(rows), key.check)
    assert (result.problem.seq, result.problem.kind) == (20, "bad_signature")


def test_a_checkpoint_signed_by_another_key_is_not_judged_but_noted():
    key, other = SigningKey(Ed25519PrivateKey.generate()), SigningKey(Ed25519PrivateKey.generate())
    rows = make_chain(5)
    at = "2024-01-01T00:01:00.000000Z"
    cp = Checkpoint(5, rows[4]["hash"], at, other.sign(5, rows[4]["hash"], at), other.key_id)
    result = walk(rows, [cp], head_of(rows), key.check)
    assert result.ok
    assert any(other.key_id in w for w in result.warnings)


def test_the_signed_statement_is_documented_canonical_json():
    assert statement(7, "ab" * 32, "2024-01-01T00:00:00.000000Z") == (
        b'khruphan-audit-checkpoint:{"at":"2024-01-01T00:00:00.000000Z","hash":"' + b"ab" * 32 + b'","seq":7}'
    )


def test_a_forged_entry_that_hashes_right_but_links_nowhere_is_named_as_inserted():
    rows = make_chain(N)
    head = head_of(rows)
    for row in rows[14:]:
        row["seq"] += 1
    rows.insert(14, forged(15, "9" * 64))  # its own hash is right; it links to nothing that exists
    result = walk(rows, [], head)
    assert (result.problem.seq, result.problem.kind) == (15, "inserted")


def test_an_unsigned_checkpoint_after_signed_ones_is_refused():
    key = SigningKey(Ed25519PrivateKey.generate())
    rows = make_chain(N)
    at = "2024-01-01T00:01:00.000000Z"
    signed = Checkpoint(10, rows[9]["hash"], at, key.sign(10, rows[9]["hash"], at), key.key_id)
    stripped = Checkpoint(20, rows[19]["hash"], at)
    result = walk(rows, [signed, stripped], head_of(rows), key.check)
    assert (result.problem.seq, result.problem.code) == (20, "unsigned_after_signed")
    assert walk(
        rows,
        [stripped, Checkpoint(25, rows[24]["hash"], at, key.sign(25, rows[24]["hash"], at), key.key_id)],
        head_of(rows),
        key.check,
    ).ok


# --- the table as a whole (judge_table over the facts of a few cheap queries) -------------------------


def _facts(rows: list[dict], cps: list[Checkpoint], **overrides):
    from audit.integrity.verify import TableFacts

    seqs = [r["seq"] for r in rows]
    entries = tuple(
        (cp.seq + 1, json.dumps({"seq": cp.seq, "hash": cp.hash, "signed": bool(cp.signature)}))
        for cp in cps
        if cp.source == "database"
    )
    values = {
        "low": min(seqs, default=None),
        "high": max(seqs, default=None),
        "count": len(rows),
        "checkpoint_entries": entries,
        "file_read": True,
        **overrides,
    }
    return TableFacts(**values)


def _judged(rows, cps, head, check=None, **overrides):
    from audit.integrity.verify import judge_table

    return judge_table(walk(rows, cps, head, check), _facts(rows, cps, **overrides), head, cps, check)


def _both(seq: int, hash_: str, signature: str = "", key_id: str = "") -> list[Checkpoint]:
    return [
        Checkpoint(seq, hash_, "t", signature, key_id, "database"),
        Checkpoint(seq, hash_, "t", signature, key_id, "file"),
    ]


def test_a_row_at_zero_is_outside_the_chain_although_the_walk_starts_after_it():
    rows = make_chain(N)
    result = _judged(rows, [], head_of(rows), low=0)
    assert (result.problem.seq, result.problem.code, result.problem.kind) == (0, "outside_chain", "inserted")


def test_a_row_far_beyond_the_head_is_named_by_itself_not_by_a_gap():
    rows = make_chain(N)
    result = _judged(rows, [], head_of(rows), beyond=N + 40, high=N + 40, count=N + 1)
    assert (result.problem.seq, result.problem.code) == (N + 40, "inserted_past_head")


def test_a_checkpoint_in_the_file_only_or_the_database_only_is_named_at_its_entry():
    rows = make_chain(N)
    cps = _both(9, rows[8]["hash"])
    facts = _facts(rows, cps)
    from audit.integrity.verify import judge_table

    db_only = [cps[0]]
    result = judge_table(walk(rows, db_only, head_of(rows)), facts, head_of(rows), db_only)
    assert (result.problem.seq, result.problem.code) == (10, "checkpoint_missing_file")
    file_only = [cps[1]]
    result = judge_table(walk(rows, file_only, head_of(rows)), facts, head_of(rows), file_only)
    assert (result.problem.seq, result.problem.code) == (10, "checkpoint_missing_db")


def test_a_chain_cut_back_to_its_last_checkpoint_is_shorter():
    rows = make_chain(N)
    cps = _both(N, rows[-1]["hash"])
    result = _judged(rows, cps, head_of(rows), checkpoint_entries=())
    assert (result.problem.seq, result.problem.code, result.problem.kind) == (
        N + 1,
        "checkpoint_entry_missing",
        "shorter",
    )


def test_with_a_key_the_latest_checkpoint_must_be_signed():
    key = SigningKey(Ed25519PrivateKey.generate())
    rows = make_chain(N)
    cps = _both(9, rows[8]["hash"])
    result = _judged(rows, cps, head_of(rows), key.check)
    assert (result.problem.seq, result.problem.code) == (9, "latest_unsigned")
    signature = key.sign(9, rows[8]["hash"], "t")
    assert _judged(rows, _both(9, rows[8]["hash"], signature, key.key_id), head_of(rows), key.check).ok


def test_a_forged_append_fails_on_its_mac_and_older_entries_are_only_noted():
    rows = make_chain(N)
    result = _judged(rows, [], head_of(rows), mac_checked=True, mac_first=5, mac_bad=N)
    assert (result.problem.seq, result.problem.code, result.problem.kind) == (N, "bad_mac", "bad_mac")
    clean = _judged(rows, [], head_of(rows), mac_checked=True, mac_first=5)
    assert clean.ok and clean.warnings == [
        "entries 1 to 4 are not MAC-protected (written before AUDIT_MAC_KEY was configured)"
    ]
