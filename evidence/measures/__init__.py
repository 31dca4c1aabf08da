"""The ITA catalogue of each assessment year (its items, their roles and periods; the shipped files in
evidence/catalogues/, `ita catalogue import`) and the year's integrity measures, the rows of the report.

May import core, audit and evidence.items' models (the evidence filed under an item or attached to a
measure); the measure form names the report's figure keys (evidence.report.figures). Not the bundle.
"""
