"""A stored file's type becomes one Content-Type header: a charset for text, added once."""

import pytest

from core.documents.exports import content_type


@pytest.mark.parametrize(
    "mime,header",
    [
        ("text/csv; charset=utf-8", "text/csv; charset=utf-8"),
        ("text/csv", "text/csv; charset=utf-8"),
        ("text/html; charset=utf-8", "text/html; charset=utf-8"),
        ("application/pdf", "application/pdf"),
        ("image/svg+xml", "image/svg+xml; charset=utf-8"),
    ],
)
def test_a_charset_is_added_once(mime, header):
    assert content_type(mime) == header
