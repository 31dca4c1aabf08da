"""`flask --app wsgi stocktake progress ROUND_ID`: a round's progress for the operator."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from core.db import db
from lending.stocktake import models as stocktake_models
from lending.stocktake import queries as stocktake_queries

stocktake = AppGroup("stocktake", help="The annual stock-take.")


@stocktake.command("progress")
@click.argument("round_id", type=int)
def progress(round_id: int) -> None:
    """Print scanned / total for the round and for each location."""
    rnd = db.session.get(stocktake_models.StocktakeRound, round_id)
    if rnd is None:
        raise click.ClickException(f"no stock-take round {round_id}")
    p = stocktake_queries.progress(db.session, rnd)
    r = stocktake_queries.reconcile(db.session, rnd)
    click.echo(
        f"round {rnd.id} FY{rnd.fiscal_year} ({rnd.status}): {p['scanned']}/{p['total']} scanned "
        f"({p['percent']}%), unexpected {p['unexpected']}"
    )
    click.echo(
        f"found {r.found}, elsewhere {r.elsewhere}, on loan {r.on_loan}, not found {r.not_found}, "
        f"good {r.good}, damaged {r.damaged}"
    )
    for row in p["by_location"]:
        click.echo(f"  {row['location'] or '-'}: {row['scanned']}/{row['total']}")
    db.session.rollback()
