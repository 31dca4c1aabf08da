"""The form library's own validation messages read in the page's language (WTForms ships no Thai)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask_babel import force_locale
from werkzeug.datastructures import MultiDict
from wtforms.i18n import messages_path

from core.web.forms import BaseForm, ChangePasswordForm
from tests.conftest import PASSWORD, login

THAI = re.compile(r"[\u0e00-\u0e7f]")


def _library_messages() -> list[str]:
    """Every message WTForms can show (its own catalogue template) and Flask-WTF's file validators'."""
    with open(Path(messages_path()) / "wtforms.pot", "rb") as fh:
        ids = [m.id for m in read_po(fh) if m.id]
    out = []
    for mid in ids:
        out.extend([mid] if isinstance(mid, str) else list(mid))
    return out + ["File does not have an approved extension.", "File does not have an approved extension: {extensions}"]


def _pattern(message: str) -> re.Pattern:
    """An English library message with its placeholders filled by anything."""
    parts = re.split(r"%\(\w+\)[sd]|%s|\{\w+\}", message)
    return re.compile(".*".join(re.escape(p) for p in parts), re.S)


ENGLISH = [_pattern(m) for m in _library_messages()]


def _app_forms() -> list[type]:
    found, todo = [], list(BaseForm.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in ("core", "audit", "lending", "evidence"):
            found.append(cls)
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__name__}")


def _provoking(form_cls: type) -> list[MultiDict]:
    """Form data that makes every field complain: empty, too long, too short, not a number."""
    names = [name for name, _ in form_cls(formdata=None, meta={"csrf": False})._fields.items()]
    return [MultiDict({n: v for n in names}) for v in ("", "x" * 5000, "x", "abc", "-1", "99999999999")]


def _errors(form) -> list[str]:
    out = []
    for errs in form.errors.values():
        for e in errs if isinstance(errs, list | tuple) else [errs]:
            out.extend(str(x) for x in (e.values() if isinstance(e, dict) else [e]))
    return out


def test_every_form_of_the_app_uses_the_translated_base():
    """A form built on FlaskForm directly would bring English messages back."""
    from flask_wtf import FlaskForm

    import wsgi  # noqa: F401  (every blueprint's forms are imported)

    stray = []
    todo = list(FlaskForm.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in ("core", "audit", "lending", "evidence") and not issubclass(cls, BaseForm):
            stray.append(f"{cls.__module__}.{cls.__name__}")
    assert not stray


def test_every_library_message_has_a_thai_translation(app):
    with app.test_request_context(), force_locale("th"):
        from flask_babel import get_translations

        t = get_translations()
        untranslated = [m for m in _library_messages() if t.ugettext(m) == m]
    # the plural ids are looked up through their singular
    assert not [m for m in untranslated if not m.endswith(("characters long.", "characters.", "this field."))]
    with app.test_request_context(), force_locale("th"):
        t = get_translations()
        assert THAI.search(
            t.ungettext(
                "Field must be at least %(min)d character long.", "Field must be at least %(min)d characters long.", 8
            )
        )


def test_every_forms_errors_are_thai_on_a_thai_page(app):
    import wsgi  # noqa: F401

    forms = _app_forms()
    assert len(forms) > 20
    english, seen = [], 0
    with app.test_request_context(method="POST"), force_locale("th"):
        for form_cls in forms:
            for data in _provoking(form_cls):
                form = form_cls(formdata=data, meta={"csrf": False})
                form.validate()
                for message in _errors(form):
                    seen += 1
                    if any(p.fullmatch(message) for p in ENGLISH) or not THAI.search(message):
                        english.append(f"{form_cls.__name__}: {message}")
    assert seen > 50
    assert not sorted(set(english))


def test_the_same_messages_stay_english_on_an_english_page(app):
    with app.test_request_context(method="POST"), force_locale("en"):
        form = ChangePasswordForm(
            formdata=MultiDict({"current": "", "new": "short", "confirm": "short"}), meta={"csrf": False}
        )
        form.validate()
    assert form.errors["current"] == ["This field is required."]
    assert form.errors["new"] == ["Field must be between 8 and 256 characters long."]


@pytest.mark.parametrize(
    "lang,expected", [("th", "ต้องยาว 8 ถึง 256 ตัวอักษร"), ("en", "Field must be between 8 and 256 characters long.")]
)
def test_a_too_short_password_is_refused_in_the_pages_language(client, make_user, lang, expected):
    user = make_user()
    assert login(client, user.username).status_code == 302
    with client.session_transaction() as cookie:
        cookie["lang"] = lang
    page = client.post("/account/password", data={"current": PASSWORD, "new": "short", "confirm": "short"})
    html = page.get_data(as_text=True)
    assert expected in html
