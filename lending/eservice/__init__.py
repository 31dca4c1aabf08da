"""The public e-service (/e-service): what the office lends to the public, requests by count without a
login, tracking by reference and phone, the satisfaction survey, and the manual for outsiders.

May import core, audit, the loans area (lending.loans), lending.outside, lending.groups, lending.manual and the
labels' QR code (lending.register.labels). It has its own blueprint `bp` (here), not lending's.
"""

from flask import Blueprint

bp = Blueprint("eservice", __name__, url_prefix="/e-service")
