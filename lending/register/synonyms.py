"""Search synonyms: the spellings and names people type for the same equipment.

Thai offices write borrowed words several ways (โปรเจคเตอร์, โปรเจ็คเตอร์, โปรเจกเตอร์), shorten them (ไมค์ for
ไมโครโฟน) or type the English name (projector). A group of terms says that they mean the same thing: a
search holding one of them also looks for the others (the query is expanded; the register's search text and
its trigram index are left alone, so adding a group needs no re-indexing). The app brings a small list of
its own (`BUILT_IN`); the supply officer adds the office's own groups, each addition and removal audited.
"""

from __future__ import annotations

import weakref
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, select
from sqlalchemy.orm import Mapped, mapped_column

from audit import record
from core.db import N_, Audited, DomainError, Forbidden, Model, NotFound, Session, utcnow, write
from lending.register import permissions
from lending.register.models import search_key

# Groups of terms that mean the same equipment (folded as search_key folds them).
BUILT_IN: tuple[tuple[str, ...], ...] = (
    ("โปรเจคเตอร์", "โปรเจ็คเตอร์", "โปรเจกเตอร์", "โปรเจ็กเตอร์", "เครื่องฉายภาพ", "projector"),
    ("ไมโครโฟน", "ไมค์", "ไมค", "ไมก์", "microphone", "mic"),
    ("เต็นท์", "เต็นต์", "เต้นท์", "เต๊นท์", "เตนท์", "tent"),
    ("เก้าอี้", "chair"),
    ("โต๊ะ", "โต้ะ", "table", "desk"),
    ("โน้ตบุ๊ก", "โน้ตบุ๊ค", "โน๊ตบุ๊ค", "โน๊ตบุ๊ก", "โน้ตบุค", "notebook", "laptop", "แล็ปท็อป", "แลปท็อป"),
    ("คอมพิวเตอร์", "computer"),
    ("กล้อง", "camera"),
    ("ลำโพง", "speaker"),
    ("เครื่องเสียง", "เครื่องขยายเสียง", "sound system", "amplifier", "แอมป์"),
    ("จอรับภาพ", "จอโปรเจคเตอร์", "จอโปรเจ็คเตอร์", "projector screen", "screen"),
    ("พัดลม", "fan"),
    ("เครื่องพิมพ์", "ปริ้นเตอร์", "พรินเตอร์", "พริ้นเตอร์", "printer"),
    ("แท็บเล็ต", "แทบเล็ต", "แท็บเล็ท", "tablet"),
    ("รถยนต์", "รถบรรทุก", "vehicle", "truck"),
    ("ไวท์บอร์ด", "ไวบอร์ด", "whiteboard"),
    ("โทรทัศน์", "ทีวี", "television"),
    ("เครื่องปั่นไฟ", "เครื่องกำเนิดไฟฟ้า", "generator"),
)

MAX_TERMS = 20
MIN_TERM, MAX_TERM = 2, 60
MAX_KEYS = 24  # the alternatives one search looks for, at most
PREFIX_MIN = 3  # a key this long that begins a term (someone still typing it) finds the term's group


class SearchSynonym(Audited, Model):
    """A group of terms the office added: a search for one finds assets named with any of them."""

    __tablename__ = "search_synonyms"
    audit_type = "search_synonym"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    terms: Mapped[list[str]] = mapped_column(JSON, default=list)  # folded by search_key, in the order given
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    def state(self) -> dict:
        return {"terms": list(self.terms)}


# --- expansion (pure) ------------------------------------------------------------------------------


def expand(key: str, groups: list[tuple[str, ...]] | tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
    """The keys a search for `key` (already folded) looks for: the key, then each group term that occurs
    in it replaced by the group's other terms. A key that is no whole term but begins one (three characters
    or more: a word being typed) adds that term's group. At most MAX_KEYS, the key itself first."""
    if not key:
        return ()
    keys = [key]
    for group in groups:
        # The longest term of the group found in the key is the one replaced ("ไมค์" over "ไมค").
        found = sorted((t for t in group if t and t in key), key=len, reverse=True)
        if found:
            term = found[0]
            keys.extend(k.replace(term, other) for k in list(keys) if term in k for other in group if other)
        if len(keys) >= MAX_KEYS:
            break
    if len(key) >= PREFIX_MIN and not any(key in group for group in groups):
        # The key is no whole term: perhaps one is being typed ("proj", "ไมโค").
        for group in groups:
            if any(t.startswith(key) for t in group):
                keys.extend(group)
    out: list[str] = []
    for k in keys:
        if k not in out:
            out.append(k)
    return tuple(out[:MAX_KEYS])


def folded_built_in() -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(search_key(t) for t in group) for group in BUILT_IN)


_BUILT_IN_FOLDED = folded_built_in()


# The groups last read by this process, under the register's version token (migration 0018: its triggers
# change it with every change to `search_synonyms` too).
_GROUPS: weakref.WeakKeyDictionary[Any, tuple[str, list[tuple[str, ...]]]] = weakref.WeakKeyDictionary()


def groups(session: Session, token: str | None = None) -> list[tuple[str, ...]]:
    """The groups a search uses: the built-in list and the office's own (a small table, read each time so
    that an addition works at once in every worker). `token`: the register's version token, read in this
    transaction, which every change to the office's groups changes too (migration 0018): the groups read
    under it are kept by the process and read again only once it has changed."""
    engine = session.get_bind().engine
    cached = _GROUPS.get(engine) if token is not None else None
    if cached is not None and cached[0] == token:
        return list(cached[1])
    own = session.execute(select(SearchSynonym.terms).order_by(SearchSynonym.id)).scalars().all()
    found = [*_BUILT_IN_FOLDED, *(tuple(t) for t in own)]
    if token is not None:
        _GROUPS[engine] = (token, found)
    return list(found)


def search_keys(session: Session, query: str, token: str | None = None) -> tuple[str, ...]:
    """The folded keys a search for `query` looks for (the query first), through every synonym group."""
    key = search_key(query)
    if not key:
        return ()
    return expand(key, groups(session, token))


# --- the office's list -----------------------------------------------------------------------------


def parse_terms(raw: str) -> list[str]:
    """Terms typed one per line or separated by commas, folded, duplicates dropped; raises DomainError."""
    terms: list[str] = []
    for part in (raw or "").replace("\n", ",").replace("،", ",").split(","):
        term = search_key(part)
        if term and term not in terms:
            terms.append(term)
    if len(terms) < 2:
        raise DomainError(N_("Give at least two terms that mean the same thing, separated by commas."))
    if len(terms) > MAX_TERMS:
        raise DomainError(N_("At most %(num)d terms in one group."), num=MAX_TERMS)
    for term in terms:
        if not MIN_TERM <= len(term) <= MAX_TERM:
            raise DomainError(N_("Each term has 2 to 60 characters: “%(term)s” does not."), term=term)
    return terms


def _require(ok: bool) -> None:
    if not ok:
        raise Forbidden(N_("You may not do this."))


def add_group(session: Session, actor, raw: str) -> SearchSynonym:
    """Add a group of terms to the office's synonym list."""
    _require(permissions.can_manage_assets(actor))
    terms = parse_terms(raw)
    with write(session):
        for existing in session.execute(select(SearchSynonym)).scalars():
            if set(existing.terms) == set(terms):
                raise DomainError(N_("The list already holds this group."))
        group = SearchSynonym(terms=terms, created_by_id=actor.id)
        session.add(group)
        session.flush()
        record(session, actor, "search_synonym.added", group, {"after": group.state()})
        session.commit()
    return group


def remove_group(session: Session, actor, group_id: int) -> None:
    """Take a group of terms off the office's list."""
    _require(permissions.can_manage_assets(actor))
    with write(session):
        group = session.get(SearchSynonym, group_id)
        if group is None:
            raise NotFound(N_("No such group of terms."))
        before = group.state()
        record(session, actor, "search_synonym.removed", group, {"before": before})
        session.delete(group)
        session.commit()


def office_groups(session: Session) -> list[SearchSynonym]:
    return list(session.execute(select(SearchSynonym).order_by(SearchSynonym.id)).scalars())
