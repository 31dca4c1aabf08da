"""Lending groups: identical numbered assets lent by count ("เก้าอี้พลาสติก × 150").

Every chair stays a numbered asset on the register; a group only says which assets are alike. A request asks
for a count from a group (a LoanLine); availability is counted per group per day; the approval reserves the
count; the hand-over names the numbered assets that leave; the return is by count with named exceptions.

May import core, audit, the register (lending.register), the loans area (lending.loans) and lending.outside's
forms and permissions; from `lending` the blueprint `bp`.
"""
