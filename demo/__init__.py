"""The demonstration office: `flask --app wsgi demo load` builds a believable อบต. with people of every
role, its equipment and 18 months of its story (loans, demands and cases, a stock-take, outside borrowers,
measures and evidence of two years, the manual, an audit checkpoint).

It stands above every package it fills — it may import core, audit, lending and evidence; nothing imports
it but wsgi (which adds its command) and the tests.
"""
