"""Khruphan's foundation: configuration, database, B.E. dates, i18n, mail, the file store, jobs and the tables
of people and files at the top; the request pipeline in core.web, people, roles, sign-in and settings in
core.people, the Thai text engine and the documents in core.documents. The blueprint `bp` lives here.

Imports nothing above it (audit, lending, evidence, wsgi): audit is reached through core.recorder.
"""

from flask import Blueprint

bp = Blueprint("core", __name__)
