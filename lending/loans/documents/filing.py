"""A hook through which lending files the documents it makes (a stock-take report, a manual version) as
evidence, without importing evidence: evidence registers its filer here when create_app wires the packages.

Lending names what a document *is* — a role, e.g. BORROWING_MANUAL — never an ITA code: the codes are
renumbered almost every year, and each year's catalogue (evidence's data) says which item plays the role.

A filer is called inside the caller's transaction as
``fn(session, actor, store, data, filename, fiscal_year=, title=, role=, mime=, source=)`` and records its
own audit entry there; the caller commits. With no filer registered, nothing is filed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# The roles lending files into (the names evidence's catalogues use in their `role` column).
BORROWING_MANUAL = "borrowing_manual"
OUTSIDERS_MANUAL = "outsiders_manual"
STOCKTAKE_RESULT = "stocktake_result"

_filers: list[Callable[..., Any]] = []


def register(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add a filer (once; registering the same function again changes nothing)."""
    if fn not in _filers:
        _filers.append(fn)
    return fn


def file_document(
    session: Any,
    actor: Any,
    store: Any,
    data: bytes,
    filename: str,
    *,
    fiscal_year: int,
    title: str,
    role: str,
    mime: str,
    source: str,
) -> list[Any]:
    """Hand a generated document, and the role it plays, to every registered filer; returns what they returned."""
    return [
        fn(
            session,
            actor,
            store,
            data,
            filename,
            fiscal_year=fiscal_year,
            title=title,
            role=role,
            mime=mime,
            source=source,
        )
        for fn in _filers
    ]


def is_wired() -> bool:
    return bool(_filers)
