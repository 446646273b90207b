"""The ``spasmscope`` application, the options several commands share, and how results are reported.

Heavy libraries (PyAV, torch, pandas) are imported inside the commands so that ``--help`` answers at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spasmscope import __version__

app = typer.Typer(
    name="spasmscope",
    help="Find infantile epileptic spasms in video: build detectors from annotated 5-s segments, validate them, screen recordings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_BAD_INPUT = 2
EXIT_SKIPPED = 3  # the run finished, but some videos or segments were skipped


def _version(value: bool) -> None:
    if value:
        typer.echo(f"spasmscope {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Find infantile epileptic spasms in video."""


PresetOpt = Annotated[str, typer.Option(help="cpu: small Hiera on 16x64x64 clips, trains on 2 CPU cores in minutes; paper: Hiera-B 16x224x224.")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help=r"TOML file with \[model], \[clip] and \[train] tables changing the preset.")]
WeightsOpt = Annotated[
    str | None,
    typer.Option(help="Backbone start: default (the cpu backbone shipped with spasmscope), none (random), hub (download the official "
                 "Kinetics-400 file, CC BY-NC 4.0), an official .pth, or a folder with config.json + model.safetensors (e.g. from "
                 "`spasmscope pretrain`). Not given: default for a cpu-sized model, random for other sizes; the paper preset needs one."),
]  # fmt: skip
CacheOpt = Annotated[Path | None, typer.Option(help="Segment cache folder (default: OUT/cache); share it between runs to decode once.")]
WorkersOpt = Annotated[int, typer.Option(help="Processes for decoding (0: all cores).", min=0)]
StrictOpt = Annotated[bool, typer.Option(help="Stop at the first bad video instead of skipping it.")]
EpochsOpt = Annotated[int | None, typer.Option(help="Change the preset's number of epochs.")]
LrOpt = Annotated[float | None, typer.Option(help="Change the preset's learning rate.")]
SeedOpt = Annotated[int | None, typer.Option(help="Change the seed (initialisation, order, augmentation; fold k uses seed + k).")]
FreezeOpt = Annotated[str | None, typer.Option(help="none (full fine-tuning), backbone (linear probe) or early (first two stages fixed).")]
Table1Opt = Annotated[bool, typer.Option(help="Measure the videos for Table 1 of the report.")]
RayOpt = Annotated[
    str | None,
    typer.Option(metavar="ADDRESS", help="Run on Ray (pip install 'spasmscope\\[ray]'): local, a Ray started on this machine for this run; "
                 "auto, the cluster this machine joined with `ray start`; HOST:PORT, the cluster whose head listens there. Recordings and "
                 "cache must be on a file system every node mounts."),
]  # fmt: skip
BackboneOutOpt = Annotated[Path, typer.Option(help="Backbone folder: model.safetensors, config.json, pretrain.jsonl (pass it to --weights).")]


def report_skipped(items: list[tuple[str, str]]) -> None:
    """One ``skipped:`` line on stderr per ``(file, reason)``; exit status 3 at the end of the command."""
    for what, reason in items:
        typer.echo(f"skipped: {reason}" if reason.startswith(what) else f"skipped: {what}: {reason}", err=True)


def finish(skipped: list[tuple[str, str]]) -> None:
    """End a command that finished: exit status 3 when something was skipped (already reported), 0 otherwise."""
    if skipped:
        raise typer.Exit(EXIT_SKIPPED)


def workers_or_all(workers: int) -> int | None:
    """``--workers 0`` means all cores (the library's default, ``None``)."""
    return workers or None


def print_metrics(metrics: dict, out: Path, report: Path) -> None:
    p, pc = metrics["pooled"], metrics["per_child"]

    def f(v):
        return "n/a" if v is None else f"{v:.3f}"

    typer.echo(f"{metrics['n_segments']} segments, {metrics['n_children']} children; pooled: " + ", ".join(f"{k} {f(p.get(k))}" for k in ("auc", "sensitivity", "specificity", "accuracy", "far")))
    typer.echo("mean over children [95% CI]: " + ", ".join(f"{k} {f(v['mean'])} [{f(v['ci_low'])}, {f(v['ci_high'])}]" for k, v in pc.items()))
    typer.echo(f"calibration: Brier {f(metrics['calibration']['brier'])}, ECE {f(metrics['calibration']['ece'])}")
    if "spasm_vs_startle" in metrics:
        s = metrics["spasm_vs_startle"]
        typer.echo(f"spasm against startle: AUC {f(s['auc'])} ({s['n_spasm']} spasm, {s['n_startle']} startle segments)")
    if "spasm_vs_mimic" in metrics:
        s = metrics["spasm_vs_mimic"]
        kinds = ", ".join(f"{k} {f(v['auc'])} ({v['n_mimic']})" for k, v in s["by_kind"].items())
        typer.echo(f"spasm against other mimics: AUC {f(s['auc'])} ({s['n_spasm']} spasm, {s['n_mimic']} mimic segments{': ' + kinds if kinds else ''})")
    typer.echo(f"wrote {out}/predictions.csv, {out}/metrics.json; report: {report}")
