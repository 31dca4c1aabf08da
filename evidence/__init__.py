"""Evidence items, ITA indicators, publication, measures, the annual ITA report and its bundle."""

from flask import Blueprint

bp = Blueprint("evidence", __name__)
