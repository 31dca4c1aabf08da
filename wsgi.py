"""create_app(): the one place that knows every package and wires them together."""
# ruff: noqa: E402  (the imports follow gc.disable() on purpose; see below)

from __future__ import annotations

import gc

# Importing the app makes hundreds of thousands of objects and frees none of them: the collector would
# only walk them again and again (a tenth of every command's start-up). It runs again, with these kept
# out of its way, once the imports are done (end of this module).
gc.disable()

import logging
import os
from typing import Any

import click
from flask import Flask, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_bootstrap import Bootstrap5
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError

import audit
import audit.models  # noqa: F401  (every model is imported so migrations see every table)
import core
import evidence
import evidence.items.models  # noqa: F401
import evidence.measures.models  # noqa: F401
import lending
import lending.loans.models  # noqa: F401
import lending.manual  # noqa: F401
import lending.manual.services  # noqa: F401
import lending.register.models  # noqa: F401
import lending.register.synonyms  # noqa: F401
import lending.stocktake  # noqa: F401
import lending.stocktake.services  # noqa: F401
from audit import cli as audit_cli
from audit import names as audit_names
from audit import views as _audit_views  # noqa: F401  (routes register on import)
from audit.services import install_guard
from core import cli as core_cli
from core import i18n, jobs, recorder
from core.config import load_config
from core.db import DomainError, db, install_sqlite_tuning
from core.people import views as _core_views  # noqa: F401  (routes register on import)
from core.people.services import get_settings
from core.people.signin import load_session_user_and_settings
from core.web import context, edge, fragments
from core.web import home as home_panels
from core.web import job_views as _job_views  # noqa: F401  (routes register on import)
from core.web.form_tokens import form_token_field
from core.web.forms import role_choices
from demo import office as demo_office
from evidence.bundle import cli as _bundle_cli  # noqa: F401  (adds `evidence bundle` to the evidence group)
from evidence.bundle import views as _submission_views  # noqa: F401  (routes register on import)
from evidence.items import cli as evidence_cli
from evidence.items import views as _evidence_views  # noqa: F401  (routes register on import)
from evidence.items.services import file_generated
from evidence.measures import cli as measures_cli
from evidence.measures import views as _measures_views  # noqa: F401  (routes register on import)
from evidence.report import cli as report_cli
from evidence.report import dashboard as evidence_home
from evidence.report import views as _report_views  # noqa: F401  (routes register on import)
from lending import eservice
from lending import home as lending_home
from lending.eservice import mails as eservice_mails
from lending.eservice import models as _eservice_models  # noqa: F401
from lending.eservice import views as _eservice_views  # noqa: F401  (the public e-service, /e-service)
from lending.groups import views as _group_views  # noqa: F401
from lending.loans import case_views as _case_views  # noqa: F401
from lending.loans import cli as loan_cli
from lending.loans import views as _loan_views  # noqa: F401
from lending.loans.bookings import views as _booking_views  # noqa: F401
from lending.loans.documents import filing as lending_filing
from lending.manual import views as _manual_views  # noqa: F401
from lending.outside import cli as outside_cli
from lending.outside import views as _outside_views  # noqa: F401
from lending.register import cli as lending_cli
from lending.register import views as _lending_views  # noqa: F401
from lending.stocktake import cli as stocktake_cli
from lending.stocktake import views as _stocktake_views  # noqa: F401

csrf = CSRFProtect()


class _Settings(dict):
    """Agency settings for templates: `agency().agency_name`."""

    __getattr__ = dict.get


login_manager = LoginManager()
MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")


def init_migrations(app: Flask) -> None:
    """Flask-Migrate on `app`. Importing it (Alembic) is a quarter of the app's start-up and only
    migrating needs it, so the app starts with a stand-in that sets it up when first used: by the `db`
    command group, or by `flask_migrate.upgrade()` called from code (tests, benchmarks)."""
    if isinstance(app.extensions.get("migrate"), _MigrateLater):
        del app.extensions["migrate"]
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate
        from flask_migrate.cli import db as commands

        Migrate(app, db, directory=MIGRATIONS, render_as_batch=True, compare_type=True)
        commands.add_command(core_cli.grant_command)  # `db grant [ROLE]`: the app role's privileges


class _MigrateLater:
    """`app.extensions["migrate"]` until Flask-Migrate is first asked for something."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    def __getattr__(self, name: str) -> Any:
        init_migrations(self._app)
        return getattr(self._app.extensions["migrate"], name)


class _MigrationCommands(click.Command):
    """`flask db ...`: hands its arguments to Flask-Migrate's own command group, loaded only now."""

    def __init__(self) -> None:
        super().__init__(
            "db",
            help="Perform database migrations (Flask-Migrate); `flask db --help` lists them.",
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
            add_help_option=False,
            callback=self._run,
        )

    @staticmethod
    def _run() -> None:
        from flask.cli import ScriptInfo

        ctx = click.get_current_context()
        info = ctx.ensure_object(ScriptInfo)
        init_migrations(info.load_app())
        from flask_migrate.cli import db as commands

        commands.main(args=ctx.args, prog_name=ctx.command_path, obj=info, standalone_mode=False)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then the environment, then `overrides`; nothing connects at import."""
    root = os.path.dirname(os.path.abspath(__file__))
    app = Flask(
        __name__,
        instance_path=os.path.join(root, "instance"),
        instance_relative_config=False,
        template_folder="templates",
        static_folder="static",
    )
    app.config.update(load_config(app.instance_path, overrides))
    os.makedirs(app.instance_path, exist_ok=True)
    logging.basicConfig(level=logging.INFO)

    edge.init_app(app)  # the id converter first: routes are compiled with it as they are registered
    db.init_app(app)
    with app.app_context():
        install_sqlite_tuning(db.engine)
    app.extensions["migrate"] = _MigrateLater(app)
    app.cli.add_command(_MigrationCommands())
    csrf.init_app(app)
    Bootstrap5(app)
    i18n.init_app(app)
    _init_login(app)
    jobs.init_app(app)

    recorder.set_writer(audit.record)
    install_guard()

    app.register_blueprint(core.bp)
    app.register_blueprint(lending.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(evidence.bp)
    app.register_blueprint(eservice.bp)
    eservice_mails.init_app(app)  # status mails to outside borrowers on the outside loans' events
    core_cli.init_app(app)
    lending_cli.init_app(app)
    app.cli.add_command(demo_office.demo)
    audit_cli.init_app(app)
    app.cli.add_command(loan_cli.loans)
    app.cli.add_command(outside_cli.outside)
    app.cli.add_command(evidence_cli.evidence)
    app.cli.add_command(measures_cli.ita)
    app.cli.add_command(report_cli.report)
    app.cli.add_command(stocktake_cli.stocktake)
    # lending files its stock-take reports and manual versions as evidence through this hook
    lending_filing.register(file_generated)
    # the home page: each package's panel, registered here so that core imports neither
    home_panels.register("tasks", 10, "lending/home/_tasks.html", lending_home.tasks)
    home_panels.register("figures", 20, "evidence/_home_figures.html", evidence_home.figures)
    _register_audit_links()

    @app.context_processor
    def _globals():
        def agency():
            if "agency" not in g:
                # the version token read with the user serves while the transaction it was read in
                # lasts; after a commit (a change of settings may be in it) it is read again
                token, read_in = g.get("kp_settings_token") or (None, None)
                current = read_in is not None and db.session().get_transaction() is read_in
                g.agency = _Settings(get_settings(db.session, token if current else None))
            return g.agency

        def nav_parts():
            """The navigation bar's pieces for this page (templates/core/_nav.html), kept per key."""
            user = current_user
            held = user.held_permissions() if user.is_authenticated else None
            return fragments.parts("core/_nav.html", held)

        return {
            "agency": agency,
            "nav_parts": nav_parts,
            "role_label": lambda r: str(dict(role_choices()).get(r, r)),
            "form_token_field": form_token_field,
        }

    _init_request_hooks(app)
    _init_error_handlers(app)
    return app


def _register_audit_links() -> None:
    """Where the audit pages link each kind of record: its own page, or the page it belongs to."""

    def the(endpoint: str, arg: str | None = None, key: str | None = None, permission: str | None = None):
        def build(subject_id: str, data: dict[str, Any]) -> str | None:
            if permission and not (current_user.is_authenticated and current_user.can(permission)):
                return None
            if arg is None:
                return url_for(endpoint)
            value = data.get(key) if key else subject_id
            return url_for(endpoint, **{arg: int(value)}) if value not in (None, "") else None

        return build

    for kind, build in {
        "asset": the("lending.asset", "asset_id"),
        "loan": the("lending.loan", "loan_id"),
        "loan_item": the("lending.loan", "loan_id", key="loan"),
        "demand": the("lending.loan", "loan_id", key="loan"),
        "incident": the("lending.incident", "incident_id"),
        "stocktake_round": the("lending.stocktake_round", "round_id"),
        "stocktake_entry": the("lending.stocktake_round", "round_id", key="round_id"),
        "manual_version": the("lending.manual_versions"),
        "evidence": the("evidence.item", "evidence_id"),
        "measure": the("evidence.measures"),
        "measures": the("evidence.measures", "year"),
        "report": the("evidence.report", "year"),
        "users": the("core.user_edit", "user_id", permission="users.manage"),
        "settings": the("core.settings", permission="settings.manage"),
        "audit_checkpoint": the("audit.verify"),
    }.items():
        audit_names.register_link(kind, build)


def _init_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "core.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def _load(token: str):
        user, settings_token = load_session_user_and_settings(db.session, token)
        g.kp_settings_token = (settings_token, db.session().get_transaction())
        return user


def _init_request_hooks(app: Flask) -> None:
    @app.before_request
    def _origin():
        g.origin = context.set_origin(
            request.remote_addr or "", request.user_agent.string or "", request.headers.get("X-Request-Id")
        )

    @app.before_request
    def _gate():
        """Deny by default: a route that declared neither `require` nor `public` is not served."""
        if request.endpoint in (None, "static", "bootstrap.static"):
            return None
        view = app.view_functions.get(request.endpoint)
        if getattr(view, "khruphan_gate", None) is None:
            app.logger.error("route %s has no access rule; refused", request.endpoint)
            return render_template("core/error.html", code=403, message=_("You may not open this page.")), 403
        return None

    @app.after_request
    def _headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; "
            "form-action 'self'",
        )
        if g.get("origin"):
            response.headers["X-Request-Id"] = g.origin.request_id
        return response

    @app.teardown_request
    def _teardown(exc):
        if exc is not None:
            db.session.rollback()


def _init_error_handlers(app: Flask) -> None:
    def _page(code: int, message: str):
        return render_template("core/error.html", code=code, message=message), code

    @app.errorhandler(DomainError)
    def _domain(e: DomainError):
        db.session.rollback()
        # Parameters that are themselves msgids (a status name) are shown in the page's language too.
        message = i18n.message(e.message, e.params)
        if request.method == "POST" and e.status in (400, 409) and request.referrer:
            flash(message, "danger")
            return redirect(request.referrer)
        return _page(e.status, message)

    @app.errorhandler(IntegrityError)
    def _integrity(_e):
        # Two requests collided on a unique key (PostgreSQL's UniqueViolation, SQLite's IntegrityError):
        # the same answer on both databases, never a 500.
        db.session.rollback()
        return _page(
            409,
            _(
                "This collided with another change made at the same moment; nothing was saved. "
                "Reload the page to see the current state."
            ),
        )

    @app.errorhandler(StaleDataError)
    def _stale(_e):
        db.session.rollback()
        return _page(409, _("Someone else changed this record after you opened it. Reload and try again."))

    @app.errorhandler(DataError)
    def _data(_e):
        # the last net under the edge checks (core/web/edge.py): a value the database cannot hold is the
        # sender's mistake, never a server error
        db.session.rollback()
        app.logger.warning("a value the database refused reached it: %s", _e.orig)
        return _page(400, _("A value sent is too long or out of range; nothing was saved."))

    @app.errorhandler(CSRFError)
    def _csrf(_e):
        return _page(400, _("The form expired or was not sent from this site. Reload the page and try again."))

    @app.errorhandler(403)
    def _forbidden(_e):
        return _page(403, _("You may not open this page."))

    @app.errorhandler(404)
    def _not_found(_e):
        return _page(404, _("This page does not exist."))

    @app.errorhandler(405)
    def _method(_e):
        return _page(405, _("This action is not allowed here."))

    @app.errorhandler(413)
    def _too_large(_e):
        from core.files import megabytes

        mb = megabytes(app.config["MAX_CONTENT_LENGTH"])
        return _page(413, _("The upload is larger than %(mb)s MB; nothing was stored.", mb=mb))

    @app.errorhandler(500)
    def _server(_e):
        db.session.rollback()
        return _page(500, _("Something went wrong on our side; nothing was saved. Try again."))

    @app.route("/healthz")
    def healthz():
        return {"ok": True}

    healthz.khruphan_gate = ("public", ())


gc.freeze()  # what the imports made lives as long as the process: never scanned again
gc.enable()
