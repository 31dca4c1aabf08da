"""Asset numbers, prices and field rules shared by the form and the import."""

from decimal import Decimal

import pytest

from core.db import DomainError
from lending.register.models import (
    DISPOSED,
    ON_LOAN,
    Asset,
    clean_asset_fields,
    normalise_asset_number,
    parse_price,
    search_key,
)


@pytest.mark.parametrize("raw", ["416-59-0001", "๔๑๖-๕๙-๐๐๐๑", " 416 - 59 - 0001 ", "416–59–0001", "４１６-59-0001"])
def test_asset_numbers_are_one_number_however_typed(raw):
    assert normalise_asset_number(raw) == "416-59-0001"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1,234.50", Decimal("1234.50")),
        ("๑๒๐๐", Decimal("1200.00")),
        ("350", Decimal("350.00")),
        ("฿ 99.9", Decimal("99.90")),
        ("", None),
        (12500.0, Decimal("12500.00")),
        (1070.0000000000002, Decimal("1070.00")),
    ],
)
def test_prices_are_decimal(raw, expected):
    assert parse_price(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "-5", "1e400", "NaN", "12.345", "99999999999"])
def test_bad_prices_are_refused(raw):
    with pytest.raises(ValueError):
        parse_price(raw)


def test_clean_fields_names_each_bad_field():
    clean, errors = clean_asset_fields(
        {
            "asset_number": "",
            "name": "x" * 201,
            "category": "เต็นท์",
            "price": "แพง",
            "acquired_on": "31/02/2566",
            "lendable": "maybe",
        }
    )
    assert set(errors) == {"asset_number", "name", "price", "acquired_on", "lendable"}


def test_clean_fields_accepts_thai_input():
    clean, errors = clean_asset_fields(
        {
            "asset_number": "๔๑๖-๕๙-๐๐๐๑",
            "name": " เต็นท์  ผ้าใบ ",
            "category": "เต็นท์",
            "price": "๑๒,๕๐๐",
            "acquired_on": "๑๕/๐๖/๒๕๕๙",
            "lendable": "ได้",
        }
    )
    assert not errors
    assert clean["asset_number"] == "416-59-0001"
    assert clean["name"] == "เต็นท์ ผ้าใบ"
    assert clean["price"] == Decimal("12500.00")
    assert str(clean["acquired_on"]) == "2016-06-15"
    assert clean["lendable"] is True


def test_search_key_folds_case_digits_and_spaces():
    assert search_key("  Epson  EB-X51 ๔๒๓ ") == "epson eb-x51 423"


def test_an_asset_on_loan_cannot_be_set_by_hand():
    asset = Asset(status=ON_LOAN)
    with pytest.raises(DomainError):
        asset.change_status("available", "")


def test_a_disposed_asset_does_not_come_back():
    asset = Asset(status=DISPOSED)
    with pytest.raises(DomainError):
        asset.change_status("available", "")
    with pytest.raises(DomainError):
        Asset(status="available").change_status("on_loan", "x")
