"""Commands of screening: ``screen`` and ``score-events``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spasmscope.cli.app import RayOpt, StrictOpt, app, finish, report_skipped
from spasmscope.cli.bars import bars
from spasmscope.errors import InputError


@app.command()
def screen(
    model: Annotated[Path, typer.Argument(help="Model folder from `spasmscope train` (model.safetensors + config.json).")],
    out: Annotated[Path, typer.Option(help="Folder for windows.csv, events.csv, timelines/, report.html.")],
    videos: Annotated[list[Path] | None, typer.Argument(help="Recordings to screen, any length.")] = None,
    hop: Annotated[float, typer.Option(help="Seconds between the starts of the 5-s windows.")] = 2.5,
    threshold: Annotated[float, typer.Option(help="A window scoring at or above it is a detection.")] = 0.5,
    crop: Annotated[str, typer.Option(help="auto: find the infant and crop around it; none: whole frame; X,Y,W,H: a fixed box in pixels.")] = "auto",
    detector: Annotated[Path | None, typer.Option(help="A local YOLO-style .onnx person detector for --crop auto (default: built-in motion localiser).")] = None,
    merge_gap: Annotated[float, typer.Option(help="Positive windows up to this many seconds apart form one detection.")] = 0.0,
    min_visibility: Annotated[float, typer.Option(help="Windows whose infant visibility is below this are not scored ('no infant in view').")] = 0.3,
    light_change: Annotated[float, typer.Option(help="Windows whose mean grey level jumps by more than this share (a light switched on or off) are not scored ('lighting changed'); 1: never.")] = 0.3,
    views: Annotated[str, typer.Option(help="model: score windows as the model was set to (cpu preset: four flipped views); one: one view, about 1.3x faster on a CPU; flips: the four flipped views.")] = "model",
    events: Annotated[Path | None, typer.Option(help="Annotated spasms (video,onset,offset) to mark on the timelines.")] = None,
    strict: StrictOpt = False,
    list_file: Annotated[Path | None, typer.Option("--list", help="A text file naming recordings, one per line (relative to the file's folder; # starts a comment), screened after VIDEOS.")] = None,
    ray: RayOpt = None,
    chunk_minutes: Annotated[float, typer.Option(help="With --ray: long recordings go through the cluster in chunks of this many minutes.")] = 20.0,
) -> None:
    """Screen recordings for spasms: score 5-s windows, gate their quality, merge detections, write a report."""
    from spasmscope.data.windows import WindowConfig
    from spasmscope.screening.screen import ScreenConfig
    from spasmscope.screening.screen import screen as run_screen

    windows = WindowConfig(hop=hop, crop=crop, detector=str(detector or ""), min_visibility=min_visibility, light_change=light_change)
    cfg = ScreenConfig(windows, threshold=threshold, merge_gap=merge_gap, views=views)
    from spasmscope.data.manifest import read_list

    paths = [str(v) for v in videos or []] + (read_list(list_file) if list_file is not None else [])
    if not paths:
        raise InputError(None, "no recording given", "name recordings after the model folder, or give --list FILE")
    if ray is not None:
        from spasmscope.cluster import ray_module

        ray_module()  # says how to install Ray before any work is done
    with bars() as progress:
        result = run_screen(model, paths, out, cfg, strict=strict or len(paths) == 1, progress=progress, events=events, ray=ray, chunk_minutes=chunk_minutes)
    report_skipped(result.skipped)
    for path, note in result.notes:
        typer.echo(f"note: {path}: {note}", err=True)
    w = result.windows
    typer.echo(f"screened {w['video'].nunique()} recording(s), {len(w)} windows ({int((w['valid'] == 0).sum())} not scored); "
               f"{len(result.events)} detection(s); report: {result.report}")  # fmt: skip
    finish(result.skipped)


@app.command("score-events")
def score_events(
    windows: Annotated[Path, typer.Argument(help="windows.csv written by `spasmscope screen`.")],
    out: Annotated[Path, typer.Option(help="Folder for event_metrics.json, sweep.csv, sweep.png and detections/*.tsv.")],
    events: Annotated[Path | None, typer.Argument(help="Annotated spasms: CSV with video,onset,offset (seconds).")] = None,
    events_file: Annotated[Path | None, typer.Option("--events", help="The truth as an option: annotated spasms, or the events.csv of `spasmscope review export` (the reviewed spasms).")] = None,
    threshold: Annotated[float, typer.Option(help="Window threshold for the detections scored.")] = 0.5,
    merge_gap: Annotated[float, typer.Option(help="Positive windows up to this many seconds apart form one detection.")] = 0.0,
    tolerance_start: Annotated[float, typer.Option(help="Seconds a detection may start before a spasm and still count.")] = 2.5,
    tolerance_end: Annotated[float, typer.Option(help="Seconds a detection may lie after a spasm and still count.")] = 2.5,
    cluster_gap: Annotated[float, typer.Option(help="Spasms less than this many seconds apart form one cluster.")] = 60.0,
    max_duration: Annotated[float, typer.Option(help="At spasm level, longer detections are split into pieces of this many seconds before matching.")] = 10.0,
    target_fa_per_24h: Annotated[float | None, typer.Option(help="Also choose the threshold with the best sensitivity at most this many false alarms per 24 h.")] = None,
    movements: Annotated[Path | None, typer.Option(help="Movements that are not spasms (video,kind,onset,offset; a synthetic cohort's movements.csv): how the spasm-free windows holding each kind score.")] = None,
) -> None:
    """Event-level scoring of a screening run against annotated spasms (sensitivity, precision, F1, false alarms per
    24 h, latency, deficiency time; spasm and cluster level), a threshold sweep, and SzCORE/BIDS detection files."""
    if (events is None) == (events_file is None):
        raise InputError(None, "give the annotated spasms once", "name the events CSV after WINDOWS, or give --events FILE (e.g. reviewed/events.csv)")
    from spasmscope.screening.events import EventParams
    from spasmscope.screening.scoring import score_run

    params = EventParams(threshold=threshold, merge_gap=merge_gap, tolerance_start=tolerance_start, tolerance_end=tolerance_end,
                         max_duration=max_duration, cluster_gap=cluster_gap)  # fmt: skip
    metrics = score_run(windows, events or events_file, out, params, target_fa_per_24h, movements)
    s, c = metrics["spasm"], metrics["cluster"]

    def pct(v) -> str:
        return "n/a" if v is None else f"{v:.0%}"

    typer.echo(f"spasm level: sensitivity {pct(s['sensitivity'])} ({s['true_positive']}/{s['reference_events']}), precision {pct(s['precision'])}, "
               f"false alarms {s['false_alarms_per_24h'] or 0:.1f} per 24 h; cluster level: sensitivity {pct(c['sensitivity'])} "
               f"({c['true_positive']}/{c['reference_events']}), false alarms {c['false_alarms_per_24h'] or 0:.1f} per 24 h; deficiency {pct(s['deficiency_share'])}")  # fmt: skip
    if target_fa_per_24h is not None:
        chosen = metrics["chosen_threshold"]
        typer.echo(f"threshold for at most {target_fa_per_24h:g} false alarms per 24 h: {'none meets it' if chosen is None else f'{chosen:g}'}")
    if "by_movement" in metrics:
        m = metrics["by_movement"]
        auc = {k: "n/a" if v["auc"] is None else f"{v['auc']:.3f}" for k, v in m["by_kind"].items()}
        kinds = ", ".join(f"{k} {v['at_threshold']}/{v['n']} (AUC {auc[k]})" for k, v in m["by_kind"].items())
        typer.echo(f"spasm-free windows at or above {m['threshold']:g}, by the movement they hold (AUC of the {m['n_spasm']} spasm windows against them): {kinds}")
    typer.echo(f"wrote {out / 'event_metrics.json'}, {out / 'sweep.csv'}, {out / 'sweep.png'}, {out / 'detections'}")
