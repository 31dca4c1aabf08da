"""Login, logout, own password, language; the admin's people and settings pages."""

from __future__ import annotations

from decimal import Decimal

import fontpkg_sarabun
from flask import current_app, flash, redirect, render_template, request, send_from_directory, session, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import login_user, logout_user
from sqlalchemy import select

from core import bp
from core.db import db
from core.i18n import LANGUAGES
from core.i18n import message as domain_message
from core.models import User
from core.people import services, signin
from core.people.permissions import SETTINGS_MANAGE, USERS_MANAGE, can_act_on_audit_outage
from core.web.forms import ChangePasswordForm, EmptyForm, LoginForm, ResetPasswordForm, SettingsForm, UserForm
from core.web.routes import actor, public, require, safe_next, submit_once


@bp.route("/")
@require()
def home():
    """The start page after login: what waits for this person today (to approve, to hand over, returns due,
    overdue, open cases, notifications) and, for those who oversee the year, its figures at a glance; each
    package contributes its panel (core.web.home)."""
    from core.dates import bangkok_today
    from core.web import home as panels

    today = bangkok_today()
    return render_template("core/home.html", panels=panels.panels_for(db.session, actor(), today), today=today)


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Sign in with username and password, under the failed-login throttle."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    if form.validate_on_submit():
        try:
            user, _token = signin.login(
                db.session,
                form.username.data,
                form.password.data,
                ip=request.remote_addr or "",
                user_agent=request.user_agent.string or "",
                config=current_app.config,
            )
        except signin.LoginRefused as e:
            flash(domain_message(e.message, e.params), "danger")
            return render_template("core/login.html", form=form), 200
        previous = actor()
        if previous is not None and previous.current_session_token:
            signin.logout(db.session, previous, previous.current_session_token)  # one login per browser
        session.clear()
        login_user(user)
        session["lang"] = user.language
        if getattr(user, "audit_unavailable", False) and can_act_on_audit_outage(user):
            with force_locale(user.language):
                flash(
                    _(
                        "The audit log cannot be written: changes are refused until it is repaired. Open "
                        "Verify to see what is wrong."
                    ),
                    "danger",
                )
        return redirect(safe_next(form.next.data) or url_for("core.home"))
    return render_template("core/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@require()
def logout():
    """End this login session on the server, not only in the cookie."""
    user = actor()
    signin.logout(db.session, user, user.current_session_token)
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("You have signed out."), "info")
    return redirect(url_for("core.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@require()
def change_password():
    """Change one's own password; other sessions end."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = actor()
        token = signin.change_password(db.session, user, form.current.data, form.new.data)
        user.current_session_token = token
        login_user(user)
        flash(_("Your password was changed. Other sessions were signed out."), "success")
        return redirect(url_for("core.home"))
    return render_template("core/password.html", form=form)


@bp.route("/lang/<code>", methods=["POST"])
@public
def set_lang(code: str):
    """Switch the language of the pages (remembered for a signed-in person)."""
    if code not in LANGUAGES:
        return redirect(url_for("core.home"))
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("core.home"))
    session["lang"] = code
    user = actor()
    if user is not None:
        services.set_language(db.session, user, code)
    return redirect(safe_next(request.form.get("next")) or url_for("core.home"))


@bp.route("/fonts/<path:name>")
@public
def font(name: str):
    """Sarabun, served by the app itself (office networks are often closed)."""
    if not name.startswith("Sarabun-") or not name.endswith(".ttf"):
        return ("", 404)
    return send_from_directory(fontpkg_sarabun.ROOT / "files", name, max_age=86400 * 30)


# --- admin: people -------------------------------------------------------------------------------


@bp.route("/admin/users")
@require(USERS_MANAGE)
def users():
    """Everyone with an account, active first; below, the sign-in locks in force (who, from where)."""
    rows = db.session.execute(select(User).order_by(User.active.desc(), User.username)).scalars().all()
    return render_template("admin/users.html", users=rows, form=EmptyForm(), locks=signin.locked_logins(db.session))


@bp.route("/admin/users/new", methods=["GET", "POST"])
@require(USERS_MANAGE)
def user_new():
    """Create an account with its roles."""
    form = UserForm()
    if form.validate_on_submit():
        if not form.password.data:
            form.password.errors.append(_("An initial password is required."))
        else:
            outcome = submit_once(
                "user.created",
                lambda: services.create_user(
                    db.session,
                    actor(),
                    form.username.data,
                    form.name.data,
                    set(form.roles.data),
                    form.password.data,
                    position=form.position.data or "",
                    department=form.department.data or "",
                    email=form.email.data or "",
                ),
            )
            if outcome.replayed:
                flash(_("This form was already sent; here is what it made."), "info")
                return redirect(url_for("core.user_edit", user_id=int(outcome.record_id)))
            flash(_("The account %(username)s was created.", username=outcome.created.username), "success")
            return redirect(url_for("core.users"))
    return render_template("admin/user_form.html", form=form, user=None)


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@require(USERS_MANAGE)
def user_edit(user_id: int):
    """Change a person's details and roles (a stale form is refused)."""
    user = db.get_or_404(User, user_id)
    form = UserForm(obj=user)
    form.username.data = user.username
    if request.method == "GET":
        form.roles.data = sorted(user.roles)
        form.version.data = str(user.version)
    if form.validate_on_submit():
        services.update_user(
            db.session,
            actor(),
            user.id,
            version=int(form.version.data or 0),
            name=form.name.data,
            roles=set(form.roles.data),
            position=form.position.data or "",
            department=form.department.data or "",
            email=form.email.data or "",
        )
        flash(_("Saved."), "success")
        return redirect(url_for("core.users"))
    return render_template(
        "admin/user_form.html",
        form=form,
        user=user,
        reset_form=ResetPasswordForm(prefix="reset"),
        toggle_form=EmptyForm(),
    )


@bp.route("/admin/users/<int:user_id>/active", methods=["POST"])
@require(USERS_MANAGE)
def user_active(user_id: int):
    """Deactivate or reactivate an account (accounts are never deleted)."""
    form = EmptyForm()
    if form.validate_on_submit():
        active = request.form.get("active") == "1"
        user = services.set_user_active(db.session, actor(), user_id, active)
        flash(
            _("%(username)s can sign in again.", username=user.username)
            if active
            else _("%(username)s was deactivated and signed out.", username=user.username),
            "success",
        )
    return redirect(url_for("core.user_edit", user_id=user_id))


@bp.route("/admin/users/<int:user_id>/password", methods=["POST"])
@require(USERS_MANAGE)
def user_password(user_id: int):
    """Set a new password for someone who lost theirs."""
    form = ResetPasswordForm(prefix="reset")
    if form.validate_on_submit():
        services.reset_password(db.session, actor(), user_id, form.password.data)
        flash(_("The password was reset and the person's sessions ended."), "success")
    else:
        flash(_("The new password must be at least 8 characters."), "danger")
    return redirect(url_for("core.user_edit", user_id=user_id))


# --- admin: settings -----------------------------------------------------------------------------


@bp.route("/admin/settings", methods=["GET", "POST"])
@require(SETTINGS_MANAGE)
def settings():
    """The agency's name and place, and the borrowing policy numbers."""
    current = services.get_settings(db.session)
    form = SettingsForm(data={**current, "head_approval_threshold": Decimal(str(current["head_approval_threshold"]))})
    if form.validate_on_submit():
        values = {name: field.data for name, field in form._fields.items() if name in services.DEFAULT_SETTINGS}
        values["head_approval_threshold"] = str(Decimal(values["head_approval_threshold"]).quantize(Decimal("0.01")))
        values = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}
        services.update_settings(db.session, actor(), values)
        flash(_("Settings saved."), "success")
        return redirect(url_for("core.settings"))
    return render_template("admin/settings.html", form=form)
