"""The loans sub-area: requests, approvals, hand-over and return (services), cases, demand letters and the
daily run (cases), who may (permissions), the pages, the bookings and the lendability rule (bookings/), the
printed documents (documents/) and the paper-ledger import (ledger/).

May import core, audit, lending (the blueprint `bp`, and lending.register, the assets), and the
lending.groups and lending.outside models and hooks it works with; never evidence or wsgi.
"""
