"""The ITA evidence: the blueprint `bp` that the sub-packages' views register on, and nothing else.

    items/     evidence items: upload, attach, publish; the register, one item, the public page; `evidence check`
    measures/  the ITA catalogue of each year (`ita catalogue import`) and the year's integrity measures
    report/    the annual report: its figures, computed once, in six formats; the page, dashboard, `report ita`
    bundle/    what the office hands in: the evidence bundle (`evidence bundle`), the public links export

Layers: evidence may import core, audit and lending; only demo and wsgi import evidence.
"""

from flask import Blueprint

bp = Blueprint("evidence", __name__)
