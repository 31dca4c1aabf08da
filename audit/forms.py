"""Forms of the auditor's pages. The log's filter is a plain GET form read by `queries.LogFilter`."""

from __future__ import annotations

from flask_wtf import FlaskForm


class VerifyForm(FlaskForm):
    """The "verify now" button: only its CSRF token."""
