"""Forms of the auditor's pages. The log's filter is a plain GET form read by `queries.LogFilter`."""

from __future__ import annotations

from core.web.forms import BaseForm


class VerifyForm(BaseForm):
    """The "verify now" button: only its CSRF token."""
