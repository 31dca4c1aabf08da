"""The rendered public catalogue, kept in a small in-process LRU for anonymous visitors.

Rendering the page is most of its cost, and every visitor without an account sees the same page for the
same inputs. The key is everything the template reads: the language, the agency settings (name, phone,
the privacy notice's values), each group's name, photo and counts on the asked days, the dates and the
message shown, today, and the path the language buttons return to. The counts are computed on every
request (two statements), so a booking, an approval, a return or a settings change shows at once: it
changes the key. Nothing personal is kept: the page is cached only for a visitor who is not signed in and
has no message waiting, and the one per-visitor value on it, the CSRF token of the language buttons, is
rendered as a placeholder and filled in for each visitor from their own session.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from flask import current_app, g, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

MAX_PAGES = 64  # language × dates × paths asked at once; each page is about 10 kB

# Unguessable, so no text on the page can contain it by chance or on purpose.
CSRF_PLACEHOLDER = f"kp-csrf-{secrets.token_hex(16)}"

_pages: OrderedDict[Hashable, str] = OrderedDict()
_lock = threading.Lock()


def cacheable() -> bool:
    """Only a visitor who is not signed in and has no flashed message sees the shared page."""
    return not current_user.is_authenticated and not session.get("_flashes")


def app_key() -> tuple:
    """The app (tests and tools may run several in one process) and the base URL its links are built on."""
    return id(current_app._get_current_object()), current_app.config.get("BASE_URL")  # type: ignore[attr-defined]  # the proxy's own method


def settings_key(settings: dict[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in settings.items()))


def rows_key(rows) -> tuple:
    """What the catalogue shows of each group (per_day in full, so any day's change misses)."""
    return tuple(
        (
            r.id,
            r.name,
            r.category,
            r.model,
            r.description,
            r.photo_sha256,
            r.total,
            r.members,
            tuple(sorted(r.per_day.items())),
        )
        for r in rows
    )


def page(key: Hashable, render: Callable[[Callable[[], str]], str]) -> str:
    """The page for `key`, rendered once with the placeholder token, with this visitor's token in it.

    `render(csrf_token)` renders the template with the given csrf_token function."""
    with _lock:
        html = _pages.get(key)
        if html is not None:
            _pages.move_to_end(key)
    if html is None:
        field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        had_token = field in g
        html = render(lambda: CSRF_PLACEHOLDER)
        if not had_token and field in g:
            # something on the page (a macro imported without context) took this visitor's real token:
            # the page is theirs alone and is not kept
            return html.replace(CSRF_PLACEHOLDER, generate_csrf())
        with _lock:
            _pages[key] = html
            _pages.move_to_end(key)
            while len(_pages) > MAX_PAGES:
                _pages.popitem(last=False)
    if CSRF_PLACEHOLDER not in html:
        return html
    return html.replace(CSRF_PLACEHOLDER, generate_csrf())


def clear() -> None:
    with _lock:
        _pages.clear()
