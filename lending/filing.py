"""A hook through which lending files the documents it makes (a stock-take report, a manual version) as
evidence, without importing evidence: evidence registers its filer here when create_app wires the packages.

A filer is called inside the caller's transaction as
``fn(session, actor, store, data, filename, fiscal_year=, title=, indicators=[...], mime=, source=)`` and
records its own audit entry there; the caller commits. With no filer registered, nothing is filed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
    indicators: list[str],
    mime: str,
    source: str,
) -> list[Any]:
    """Hand a generated document to every registered filer; returns what they returned."""
    return [
        fn(
            session,
            actor,
            store,
            data,
            filename,
            fiscal_year=fiscal_year,
            title=title,
            indicators=indicators,
            mime=mime,
            source=source,
        )
        for fn in _filers
    ]


def is_wired() -> bool:
    return bool(_filers)
