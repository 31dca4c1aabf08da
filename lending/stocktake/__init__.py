"""The annual stock-take: rounds, their committee, what was found, the report.

May import core, audit, the register (lending.register) and the loans area (loans, incidents), and from
`lending` the blueprint `bp` and the filing hook (lending.loans.documents.filing).
"""
