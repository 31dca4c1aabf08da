"""Thai first, English complete: locale choice and the date/number filters templates use."""

from __future__ import annotations

import os
from decimal import Decimal

from flask import Flask, request, session
from flask_babel import Babel, get_locale
from flask_login import current_user

from core import dates

LANGUAGES = ("th", "en")
babel = Babel()


def select_locale() -> str:
    lang = session.get("lang")
    if lang in LANGUAGES:
        return lang
    if current_user and current_user.is_authenticated and current_user.language in LANGUAGES:
        return current_user.language
    return "th"


def lang() -> str:
    locale = get_locale()
    return locale.language if locale else "th"


def message_params(params: dict) -> dict:
    """A domain error's parameters as a page shows them: those that are msgids (a status name) in the
    page's language, dates in B.E. (never ISO C.E. inside a Thai sentence)."""
    from datetime import date, datetime

    from flask_babel import gettext

    out = {}
    for key, value in params.items():
        if isinstance(value, datetime):
            out[key] = dates.format_datetime(value, lang())
        elif isinstance(value, date):
            out[key] = dates.format_date(value, lang())
        elif isinstance(value, str) and value:
            out[key] = gettext(value)
        else:
            out[key] = value
    return out


def money(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{Decimal(value):,.2f}"


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", os.path.join(app.root_path, "translations"))
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters["be_date"] = lambda v, long=False: dates.format_date(v, lang(), long=long)
    app.jinja_env.filters["be_datetime"] = lambda v: dates.format_datetime(v, lang())
    app.jinja_env.filters["money"] = money
    from core.files import megabytes

    app.jinja_env.filters["megabytes"] = megabytes
    app.jinja_env.globals["current_lang"] = lang
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES

    @app.context_processor
    def _request_lang():
        return {"request_path": request.path if request else "/"}
