"""Assets, tags and labels, loans, incidents, demands, stock-take."""

from flask import Blueprint

bp = Blueprint("lending", __name__)
