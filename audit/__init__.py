"""The hash-chained audit log: its one writer and the guard (services), the log's queries, the auditor's object
rules (permissions), pages, jobs and commands, the names of its codes (names); the chain's integrity —
encoding, verification, checkpoints, MACs, backups — in audit.integrity. The blueprint `bp` lives here.

May import core (never through core.recorder: that seam is core's way up to `record`); never lending,
evidence or wsgi.
"""

from flask import Blueprint

bp = Blueprint("audit", __name__, url_prefix="/audit")

from audit.services import record  # noqa: E402

__all__ = ["bp", "record"]
