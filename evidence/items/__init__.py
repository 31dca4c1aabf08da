"""The evidence items: a file filed for a fiscal year under catalogue codes, uploaded or made by the app,
attached to a loan, asset, incident or measure, internal until published at a stable link; the register, one
item's page and file, the public page per year, and the file store's check (`evidence check`).

May import core, audit, lending (for the records an item is attached to) and evidence.measures (the
catalogue the codes come from); not the report or the bundle.
"""
