"""The register: assets and their field rules, tags and QR codes, the asset import, search synonyms.

May import core and audit, and from `lending` the blueprint `bp`, the jobs and the label sheets
(lending.register.labels). It reads the loans area where a page or a query shows what is lent or booked
(lending.loans.bookings, lending.loans.queries, and lending.loans.ledger for the paper ledger's import template);
the loans area may import the register, never the other way round for writes.
"""
