"""Thai first, English complete: locale choice and the date/number filters templates use."""

from __future__ import annotations

import os
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import Flask, has_request_context, request, session
from flask_babel import Babel, get_locale, get_translations, gettext
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup

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


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_AT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")


def shown_param(value: Any) -> Any:
    """A message's parameter as the person reads it: dates (objects or ISO text, as errors and stored job
    results carry them) in B.E. in the page's language; a text that is itself a msgid translated."""
    if isinstance(value, datetime):
        return dates.format_datetime(value, lang())
    if isinstance(value, date):
        return dates.format_date(value, lang())
    if not isinstance(value, str) or not value:
        return value
    as_date = iso_text_as_be(value)
    return as_date if as_date is not None else gettext(value)


def iso_text_as_be(value: str) -> str | None:
    """An ISO date or timestamp written as text, as a B.E. date (and Bangkok time); None if it is not one."""
    try:
        if _ISO_DAY.match(value):
            return dates.format_date(date.fromisoformat(value), lang())
        if _ISO_AT.match(value):
            return dates.format_datetime(datetime.fromisoformat(value.replace("Z", "+00:00")), lang())
    except ValueError:
        return None
    return None


def message(msgid: str, params: dict[str, Any] | None = None) -> str:
    """A domain message (msgid and parameters) in the page's language, its dates in B.E."""
    if not msgid:
        return ""
    if not params:
        return gettext(msgid)
    return gettext(msgid, **{k: shown_param(v) for k, v in dict(params).items()})


def message_params(params: dict) -> dict:
    """A domain error's parameters as a page shows them (see shown_param)."""
    return {key: shown_param(value) for key, value in params.items()}


def money(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{Decimal(value):,.2f}"


def page_translations() -> dict[str, Any]:
    """`_`, `gettext` and `ngettext` for one page, bound to the page's translations when it starts to
    render: a page calls them some seventy times, and Flask-Babel's own look the translations (and the
    locale behind them) up again on every call. They behave as Jinja's new-style callables do: the
    translation is marked safe where the template autoescapes, and its %(name)s parameters escaped; their
    own arguments are positional only, so that a parameter may be called `num` or `string`."""
    translations = get_translations()
    translate, translate_plural = translations.ugettext, translations.ungettext

    @pass_context
    def page_gettext(context, string: str, /, **variables: Any) -> str:
        rv = translate(string)
        if context.eval_ctx.autoescape:
            rv = Markup(rv)  # noqa: S704 (our own catalogue, as Jinja marks it; the parameters are escaped)
        return rv % variables

    @pass_context
    def page_ngettext(context, singular: str, plural: str, num: int, /, **variables: Any) -> str:
        variables.setdefault("num", num)
        rv = translate_plural(singular, plural, num)
        if context.eval_ctx.autoescape:
            rv = Markup(rv)  # noqa: S704 (our own catalogue, as Jinja marks it; the parameters are escaped)
        return rv % variables

    return {"_": page_gettext, "gettext": page_gettext, "ngettext": page_ngettext}


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", os.path.join(app.root_path, "translations"))
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters["be_date"] = lambda v, long=False: dates.format_date(v, lang(), long=long)
    app.jinja_env.filters["be_datetime"] = lambda v: dates.format_datetime(v, lang())
    app.jinja_env.filters["money"] = money
    from core.files import megabytes

    app.jinja_env.filters["megabytes"] = megabytes
    app.jinja_env.globals["current_lang"] = lang
    app.jinja_env.globals["domain_message"] = message
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES

    @app.context_processor
    def _request_lang():
        if not has_request_context():  # a document rendered by a command: the strings it asks for, lazily
            return {"request_path": "/"}
        return {"request_path": request.path, **page_translations()}
