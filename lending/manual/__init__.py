"""The borrowing manual: written from the live settings, published as numbered versions filed as evidence.

May import core, audit and the register (lending.register), and from `lending` the blueprint `bp` and the
filing hook (lending.loans.documents.filing).
"""
