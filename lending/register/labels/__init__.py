"""The register's QR labels: the tags themselves — QR matrices, PNG/SVG tags, a label's text fitted in a
few lines (tags) — and the printable A4 sticker sheets that draw them (sheet).

Pure modules: no Flask, no database. May import core.documents.thai (the one Thai text engine) and nothing
else of ours; sheet imports tags.
"""
