"""Borrowers outside the office (ข้อ 208): persons, community groups and other agencies, with no account.

Their contact details are personal data (PDPA): kept in `outside_parties` only, never in the audit log's
hashed data (entries name the party by its random reference), masked where shown, and anonymised after the
retention period.

May import core, audit, the register (lending.register), the loans area (lending.loans) and lending.groups;
from `lending` the blueprint `bp`.
"""
