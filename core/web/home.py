"""The home page's panels: each package registers what it shows a person when they sign in.

Core knows no loans and no figures; lending registers a person's tasks (to approve, to hand over, returns
due, overdue, open cases), evidence the year's figures. `wsgi.py` wires them, so the layers stay as they are
(a panel of a higher package is registered, never imported). A builder returns None when it has nothing to
show this person; panels are shown in their `order`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from core.db import Session

Builder = Callable[[Session, Any, date], dict[str, Any] | None]


@dataclass(frozen=True)
class Panel:
    template: str
    context: dict[str, Any] = field(default_factory=dict)


_PANELS: dict[str, tuple[int, str, Builder]] = {}


def register(name: str, order: int, template: str, build: Builder) -> None:
    """Add (or replace) the panel `name`, rendered by `template` with what `build(session, user, today)` gives."""
    _PANELS[name] = (order, template, build)


def panels_for(session: Session, user: Any, today: date) -> list[Panel]:
    """The panels this person sees today, in order."""
    out = []
    for _name, (_order, template, build) in sorted(_PANELS.items(), key=lambda kv: (kv[1][0], kv[0])):
        context = build(session, user, today)
        if context is not None:
            out.append(Panel(template=template, context=context))
    return out
