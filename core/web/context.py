"""Where an action came from (IP, user agent, request id), set once per request or CLI run.

Services never read Flask's request; the audit writer reads this instead, so the same service called
from a view, a CLI command or a test records the right origin.
"""

from __future__ import annotations

import contextvars
import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    ip: str = ""
    user_agent: str = ""
    request_id: str = ""


_origin: contextvars.ContextVar[Origin] = contextvars.ContextVar("origin", default=Origin())  # noqa: B039 (frozen)


def _printable(text: str) -> str:
    return "".join(c for c in text if c >= " " and c != "\x7f")


def set_origin(ip: str = "", user_agent: str = "", request_id: str | None = None) -> Origin:
    # headers are the client's to write: control characters (NUL, which PostgreSQL refuses) are dropped
    ip, user_agent = (_printable(v) if v else v for v in (ip, user_agent))
    request_id = _printable(request_id) if request_id else request_id
    origin = Origin(
        ip=ip[:64], user_agent=user_agent[:300], request_id=(request_id or "")[:64] or uuid.uuid4().hex
    )  # the audit column holds 64
    _origin.set(origin)
    return origin


def current_origin() -> Origin:
    return _origin.get()
