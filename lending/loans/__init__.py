"""The loans sub-area: requests, approvals, hand-over and return, incidents, demands, the documents and
the paper ledger. May import core, audit, lending (the blueprint) and lending.register (assets)."""
