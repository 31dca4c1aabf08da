"""What every blueprint's routes share: the permission gate, the acting user, the db session, files."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Response, abort, current_app, g, has_request_context, request
from flask_login import current_user

from core import recorder
from core.db import db, write
from core.files import FileStore
from core.web import form_tokens


def actor():
    """The signed-in User, or None."""
    return current_user._get_current_object() if current_user.is_authenticated else None


def require(*permissions: str) -> Callable:
    """Gate a route: login first, then every named permission; a denial is recorded in the audit log.

    Routes without this decorator are refused unless listed as public (see `public`), so nothing is
    reachable by forgetting it.
    """

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]  # Flask-Login sets it
            missing = [p for p in permissions if not current_user.can(p)]
            if missing:
                record_denial(missing)
                abort(403)
            return view(*args, **kwargs)

        wrapper.khruphan_gate = ("login", permissions)  # type: ignore[attr-defined]  # read by the route checks
        return wrapper

    return decorate


def public(view: Callable) -> Callable:
    """Mark a route as open to everyone (login page, public evidence, static files)."""
    view.khruphan_gate = ("public", ())  # type: ignore[attr-defined]  # read by the route checks
    return view


def record_denial(missing: list[str]) -> None:
    """Record a permission denial in its own small transaction."""
    session = db.session
    session.rollback()  # whatever the request had pending is not part of this entry
    try:
        with write(session):
            recorder.record(
                session,
                actor(),
                "permission.denied",
                None,
                {
                    "endpoint": request.endpoint or "",
                    "path": request.path[:300],
                    "method": request.method,
                    "missing": missing,
                },
            )
            session.commit()
    except Exception:  # a denial must still be a 403 even if recording it fails; it is logged
        current_app.logger.exception("could not record a permission denial")


def file_store() -> FileStore:
    store = g.get("file_store")
    if store is None:
        store = g.file_store = FileStore(current_app.config["EVIDENCE_DIR"])
    return store


def external_url(path: str) -> str:
    """An absolute link built from BASE_URL, never from the request's Host header.

    `path` is what url_for gives; behind a proxy that mounts the app under a prefix (SCRIPT_NAME), that
    prefix is already in it, and BASE_URL carries it too: it is taken out once."""
    root = request.script_root if has_request_context() else ""
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root) :]
    return current_app.config["BASE_URL"] + path


def safe_next(target: str | None) -> str | None:
    """A local path to go back to after login, or None (no open redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def submit_once(action: str, create: Callable[[], Any]) -> form_tokens.Outcome:
    """Run a create service once per form: a replay or a simultaneous duplicate of the same form (its
    hidden `form_token`) gets the first submission's record back (see core.web.form_tokens)."""
    user = actor()
    return form_tokens.run_once(
        db.session, request.form.get(form_tokens.FIELD), action, getattr(user, "id", None), create
    )


def send_stored(sha256: str, inline: bool, filename: str | None = None) -> Response:
    """A file of the store as a response, to the people the route lets in: 404 when its row or its bytes are
    missing; never run by the browser (a sandbox CSP), kept a day in the person's own cache."""
    from core.documents.exports import content_type
    from core.models import StoredFile

    stored = db.session.get(StoredFile, sha256)
    if stored is None:
        abort(404)
    try:
        data = file_store().read(stored.sha256)
    except (FileNotFoundError, ValueError):
        abort(404)
    resp = Response(data, content_type=content_type(stored.mime))
    resp.headers["Cache-Control"] = "private, max-age=86400"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    if not inline:
        name = (filename or stored.original_name or "file").replace('"', "")
        ascii_name = name.encode("ascii", "ignore").decode() or "document"
        resp.headers["Content-Disposition"] = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return resp
