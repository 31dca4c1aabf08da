"""B.E. dates, Thai digits, fiscal years."""

from datetime import UTC, date, datetime

import pytest

from core import dates


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2023-09-30", date(2023, 9, 30)),
        ("30/09/2566", date(2023, 9, 30)),
        ("๓๐/๐๙/๒๕๖๖", date(2023, 9, 30)),
        ("1/10/2565", date(2022, 10, 1)),
        ("2566-09-30", date(2023, 9, 30)),
        ("  ", None),
        ("", None),
    ],
)
def test_parse_date_reads_iso_and_thai_buddhist_era(text, expected):
    assert dates.parse_date(text) == expected


@pytest.mark.parametrize("text", ["31/02/2566", "yesterday", "2023/13/01", "12-2023"])
def test_parse_date_refuses_what_is_not_a_date(text):
    with pytest.raises(ValueError):
        dates.parse_date(text)


def test_format_date_shows_buddhist_era_in_both_languages():
    assert dates.format_date(date(2026, 11, 26), "th") == "26 พ.ย. 2569"
    assert dates.format_date(date(2026, 11, 26), "th", long=True) == "26 พฤศจิกายน 2569"
    assert dates.format_date(date(2026, 11, 26), "th", thai_digits=True) == "๒๖ พ.ย. ๒๕๖๙"
    assert dates.format_date(date(2026, 11, 26), "en") == "26 Nov 2569 BE"


def test_timestamps_are_shown_on_the_bangkok_day():
    late_utc = datetime(2023, 9, 30, 18, 30, tzinfo=UTC)  # 01:30 on 1 October in Bangkok
    assert dates.bangkok_date(late_utc) == date(2023, 10, 1)
    assert dates.format_datetime(late_utc, "th") == "1 ต.ค. 2566 01:30 น."


@pytest.mark.parametrize(
    "day, fy",
    [
        (date(2022, 10, 1), 2566),
        (date(2023, 9, 30), 2566),
        (date(2023, 10, 1), 2567),
        (date(2023, 1, 1), 2566),
    ],
)
def test_fiscal_year_runs_october_to_september_named_by_its_end(day, fy):
    assert dates.fiscal_year_of(day) == fy


def test_fiscal_year_bounds():
    assert dates.fiscal_year_bounds(2566) == (date(2022, 10, 1), date(2023, 9, 30))
