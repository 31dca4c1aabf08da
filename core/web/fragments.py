"""Pieces of every page that depend on a few plain values only — which permissions the person holds, the
page's language, the page's endpoint (its section is marked active) and the script root — rendered once per
such key and kept, with holes where a person's own values go (their name, the unread badge, the CSRF token).

The navigation bar asks `url_for` some 25 times, the permission predicates 15 times and the translations
40 times per page; kept, a page pays a dictionary look-up instead. It cannot show one person another's
data: a piece is rendered for a `Viewer`, which knows only whether someone is signed in and which
permissions they hold, never who they are; the permissions are those of the user loaded for this request
(from the database, on every request), so a role taken away changes the key at once.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from flask import current_app, render_template, request
from markupsafe import Markup

from core.i18n import lang

HOLE = "\x00kp-hole\x00"  # where a person's own value goes: no translation or URL holds a NUL
LIMIT = 1024  # keys kept per app: endpoints × languages × the permission sets in use, emptied when full


class Viewer:
    """Whom a kept piece is rendered for: signed in or not, and the permissions held — nothing else, so a
    template that reached for a name or an id would fail when rendered, not show it to the next person."""

    __slots__ = ("permissions",)

    def __init__(self, permissions: frozenset[str] | None) -> None:
        self.permissions = permissions

    @property
    def is_authenticated(self) -> bool:
        return self.permissions is not None

    @property
    def is_anonymous(self) -> bool:
        return self.permissions is None

    def can(self, permission: str) -> bool:
        return self.permissions is not None and permission in self.permissions


def _kept() -> dict[Hashable, tuple[Markup, ...]]:
    return current_app.extensions.setdefault("kp_fragments", {})


def forget() -> None:
    """Empty the pieces kept (tests; a running app never needs to: the key holds all they depend on)."""
    _kept().clear()


def parts(template: str, permissions: frozenset[str] | None, **context: Any) -> tuple[Markup, ...]:
    """`template` rendered for a Viewer holding `permissions` on this request's endpoint, language and
    script root, split at its holes (`hole` in the template). The same key gives the same parts, rendered
    once. `context` must be plain values of the key's kind (it is part of the key)."""
    endpoint = request.endpoint or ""
    key = (template, permissions, lang(), endpoint, request.script_root, tuple(sorted(context.items())))
    kept = _kept()
    found = kept.get(key)
    if found is None:
        html = render_template(template, current_user=Viewer(permissions), ep=endpoint, hole=HOLE, **context)
        found = tuple(Markup(piece) for piece in html.split(HOLE))  # noqa: S704 (rendered, so escaped)
        if len(kept) >= LIMIT:
            kept.clear()
        kept[key] = found
    return found
