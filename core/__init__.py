"""Khruphan's foundation: configuration, database, people and login, i18n, B.E. dates, mail, files."""

from flask import Blueprint

bp = Blueprint("core", __name__)
