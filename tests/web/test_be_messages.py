"""Messages that carry dates (a clash at approval or hand-over, a stock-take finding, a job's error) read
in the Buddhist Era in the page's language, however the rule that raised them wrote the date."""

from __future__ import annotations

from datetime import date

import pytest
from flask_babel import force_locale

from core.i18n import message

CLASH = "%(number)s is already lent for those days (loan %(ref)s, %(start)s – %(due)s)."


@pytest.mark.parametrize(
    "lang,expected",
    [
        ("th", "รายการยืม 2569/00007 วันที่ 1 ธ.ค. 2569 – 3 ธ.ค. 2569"),
        ("en", "(loan 2569/00007, 1 Dec 2569 BE – 3 Dec 2569 BE)"),
    ],
)
def test_a_clash_names_its_days_in_the_buddhist_era(app, lang, expected):
    with app.test_request_context(), force_locale(lang):
        text = message(
            CLASH, {"number": "416-59-0001", "ref": "2569/00007", "start": "2026-12-01", "due": date(2026, 12, 3)}
        )
    assert expected in text and "2026" not in text


def test_a_timestamp_reads_in_bangkok_time_and_other_parameters_are_left_alone(app):
    with app.test_request_context(), force_locale("th"):
        when = message("This asset was already recorded in this round (%(when)s).", {"when": "2026-11-30T03:15"})
        plain = message("The column %(column)s appears twice.", {"column": "2026-13-45"})
    assert "30 พ.ย. 2569 10:15 น." in when
    assert "2026-13-45" in plain  # not a date: shown as it is


def test_the_error_page_of_a_refused_hand_over_names_its_days_in_the_buddhist_era(app):
    """The app's handler of domain errors shows their dates in B.E. (the workflow raises them as ISO)."""
    from core.db import Conflict, db

    err = Conflict(CLASH, number="416-59-0001", ref="2569/00007", start="2027-01-15", due="2027-01-17")
    with app.test_request_context("/loans/1/hand-over"):
        handler = app._find_error_handler(err, [])
        body, status = handler(err)
        db.session.remove()
    assert status == 409
    assert "15 ม.ค. 2570 – 17 ม.ค. 2570" in body and "2027-01-15" not in body
