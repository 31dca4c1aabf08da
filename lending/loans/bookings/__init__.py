"""Bookings: which assets are held by which loans on which days, the lendability rule, the calendar pages.
May import core, lending (the blueprint), lending.models, lending.synonyms, lending.queries and lending.loans.models."""
