"""Commands of the review: ``review RUN...`` (the review station) and ``review export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from spasmscope.cli.app import app


class OpenByDefault(TyperGroup):
    """``spasmscope review RUN...`` opens the station: anything that is not a subcommand's name is a run for ``open``."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args.insert(0, "open")
        return super().resolve_command(ctx, args)


review_app = typer.Typer(cls=OpenByDefault, no_args_is_help=True,
                         help="Review screening runs in a local web page (spasmscope review RUN...), and export the decisions (review export).")  # fmt: skip
app.add_typer(review_app, name="review")


@review_app.command("open")
def review_open(
    runs: Annotated[list[Path], typer.Argument(help="Screening run folders (the --out of `spasmscope screen`).")],
    reviewer: Annotated[str, typer.Option(help="Your name or initials, stored with every decision.")] = "reviewer",
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: a free one).")] = 0,
    browser: Annotated[bool, typer.Option(help="Open the page in the default browser.")] = True,
    recordings: Annotated[Path | None, typer.Option(help="Folder where the recordings are now, if they moved since screening.")] = None,
) -> None:
    """The review station: a page on this machine only (127.0.0.1, a token in its address) to accept, reject or mark
    the detections with the keyboard; every decision is saved at once in RUN/review.sqlite. Ctrl-C stops it."""
    from spasmscope.review.items import check_run

    for run in runs:
        check_run(run)  # before the page's modules (matplotlib among them) load: a wrong folder is told in a second
    from spasmscope.review.server import serve

    serve(runs, reviewer, port, browser, recordings, announce=lambda address: typer.echo(f"review at {address}  (Ctrl-C stops; decisions are saved as you go)", err=False))


@review_app.command("export")
def review_export(
    run: Annotated[Path, typer.Argument(help="A screening run folder whose review.sqlite holds decisions.")],
    out: Annotated[Path, typer.Option(help="Folder for *_events.tsv, decisions.csv, events.csv, manifest.csv, agreement.json.")],
    child: Annotated[str | None, typer.Option(help="Child id of the manifest's segments (default: each recording's file name).")] = None,
    cohort: Annotated[str, typer.Option(help="Cohort of the manifest's segments.")] = "reviewed",
) -> None:
    """Export a review: per-recording BIDS-style events, every decision, the reviewed spasms as events for
    score-events, and a manifest of 5-s segments (accepted and added: 1, rejected: 0) that cv and train read."""
    from spasmscope.review.export import export
    from spasmscope.review.items import check_run

    check_run(run)
    result = export(run, out, child, cohort)
    labels = result.manifest["label"]
    typer.echo(f"{len(result.decisions)} decisions; manifest: {int(labels.sum())} spasm and {int((labels == 0).sum())} spasm-free segments; wrote {out}")
    if result.agreement is not None:
        a = result.agreement
        kappa = "n/a" if a["cohen_kappa"] is None else f"{a['cohen_kappa']:.2f}"
        typer.echo(f"agreement of {' and '.join(a['reviewers'])}: Cohen's kappa {kappa} over {a['items_both_decided']} items, {len(a['disagreements'])} disagreements")
