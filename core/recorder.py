"""The seam through which core's services reach the audit writer without importing it.

`audit` sits above `core` in the layers, so core cannot import it; wsgi.create_app wires
`audit.record` in here. With nothing wired, recording raises: an audited action is never lost silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_writer: Callable[..., Any] | None = None


def set_writer(writer: Callable[..., Any]) -> None:
    global _writer
    _writer = writer


def record(session: Any, actor: Any, action: str, subject: Any = None, data: dict | None = None) -> Any:
    if _writer is None:
        raise RuntimeError("no audit writer is wired in (create_app does that)")
    return _writer(session, actor, action, subject, data)
