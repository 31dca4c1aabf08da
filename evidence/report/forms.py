"""The report page's form."""

from __future__ import annotations

from core.forms import BaseForm


class PublishReportForm(BaseForm):
    """Publish the year's report as evidence of its measures-report item (CSRF only)."""
