"""Bookings: which assets are held by which loans on which days, the lendability rule, the calendar pages.
May import core, lending (the blueprint), lending.register and lending.loans.models."""
