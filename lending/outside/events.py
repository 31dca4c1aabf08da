"""After-commit events of outside loans, for listeners such as the e-service's status mails.

`register(fn)` adds a listener; `emit(session, loan, event)` calls every listener with (session, loan,
event) after the service's commit, for outside loans only (`loan.party_id` set). Events: "approved" (the
final approval), "rejected", "checked_out", "returned", "cancelled". A listener that fails is logged and
never undoes or breaks the action that already happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("khruphan.outside")

EVENTS = ("approved", "rejected", "checked_out", "returned", "cancelled")
_listeners: list[Callable[[Any, Any, str], None]] = []


def register(fn: Callable[[Any, Any, str], None]) -> Callable[[Any, Any, str], None]:
    """Add a listener (once); usable as a decorator."""
    if fn not in _listeners:
        _listeners.append(fn)
    return fn


def unregister(fn: Callable[[Any, Any, str], None]) -> None:
    if fn in _listeners:
        _listeners.remove(fn)


def emit(session: Any, loan: Any, event: str) -> None:
    """Tell the listeners about a committed change of an outside loan; failures are logged, not raised."""
    if not _listeners or getattr(loan, "party_id", None) is None:
        return
    for fn in list(_listeners):
        try:
            fn(session, loan, event)
        except Exception:  # noqa: BLE001 — a listener never breaks the action that already happened
            log.exception("outside-loan listener %r failed on %s of loan %s", fn, event, getattr(loan, "id", "?"))
