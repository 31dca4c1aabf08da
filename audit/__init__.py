"""The hash-chained audit log: its one writer, verification, and the auditor's views."""

from flask import Blueprint

bp = Blueprint("audit", __name__, url_prefix="/audit")

from audit.services import record  # noqa: E402

__all__ = ["bp", "record"]
