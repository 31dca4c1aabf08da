"""The public e-service (/e-service): what the office lends to the public, requests by count without a
login, tracking by reference and phone, the satisfaction survey, and the manual for outsiders."""

from flask import Blueprint

bp = Blueprint("eservice", __name__, url_prefix="/e-service")
