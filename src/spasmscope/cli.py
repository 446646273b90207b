"""The ``spasmscope`` command line.

Heavy libraries (PyAV, torch, pandas) are imported inside the commands so that ``--help`` answers at
once. Bad input ends with one line on standard error naming the file, the value and the fix, and
exit status 2; no traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from spasmscope import __version__
from spasmscope.errors import InputError

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


def _report_skipped(items: list[tuple[str, str]]) -> None:
    """One ``skipped:`` line on stderr per ``(file, reason)``."""
    for what, reason in items:
        typer.echo(f"skipped: {reason}" if reason.startswith(what) else f"skipped: {what}: {reason}", err=True)


def _manifest_or_videos(inputs: list[Path]):
    """A single ``.csv`` is a manifest; anything else is a list of videos."""
    from spasmscope.manifest import read_manifest

    if len(inputs) == 1 and inputs[0].suffix.lower() == ".csv":
        return read_manifest(inputs[0]), []
    for p in inputs:
        if p.suffix.lower() == ".csv":
            raise InputError(p, "a manifest must be given alone", "run one manifest at a time, or list video files only")
    return None, [str(p) for p in inputs]


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="Folder to write videos/, manifest.csv, events.csv, positions.csv.")],
    children: Annotated[int, typer.Option(help="Children with spasms.")] = 20,
    healthy: Annotated[int, typer.Option(help="Healthy infants (no spasms).")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same cohort.")] = 0,
    cohort: Annotated[str, typer.Option(help="Cohort name of the children with spasms.")] = "derivation",
    healthy_cohort: Annotated[str, typer.Option(help="Cohort name of the healthy infants.")] = "healthy",
    id_prefix: Annotated[str, typer.Option(help="Prefix for child ids (keeps several cohorts apart).")] = "",
    wide_fraction: Annotated[float, typer.Option(help="Share of wide-view (video-EEG style) recordings.")] = 0.12,
    night_fraction: Annotated[float, typer.Option(help="Share of close-view recordings at night.")] = 0.08,
    long_minutes: Annotated[float, typer.Option(help="Also write long wide-view recordings of this many minutes (0: none).")] = 0.0,
    long_count: Annotated[int, typer.Option(help="Number of long recordings.")] = 1,
    shifted_look: Annotated[bool, typer.Option(help="Draw children from a different look domain.")] = False,
    workers: Annotated[int, typer.Option(help="Processes (0: all cores).")] = 0,
) -> None:
    """Write a synthetic cohort of infant videos with spasms, for demos and tests."""
    from spasmscope.progress import bar
    from spasmscope.synth import SynthConfig, generate, plan_cohort

    for name, value in (("--wide-fraction", wide_fraction), ("--night-fraction", night_fraction)):
        if not 0 <= value <= 1:
            raise InputError(None, f"{name} {value} is not a share", f"give {name} between 0 and 1")
    cfg = SynthConfig(
        children=children,
        healthy=healthy,
        seed=seed,
        cohort=cohort,
        healthy_cohort=healthy_cohort,
        id_prefix=id_prefix,
        wide_fraction=wide_fraction,
        night_fraction=night_fraction,
        long_minutes=long_minutes,
        long_count=long_count,
        shifted_look=shifted_look,
    )
    total = len(plan_cohort(cfg))
    with bar(total, "synth videos") as advance:
        state = {"done": 0}

        def progress(done: int, _total: int) -> None:
            advance(done - state["done"])
            state["done"] = done

        manifest = generate(cfg, out, workers=workers or None, progress=progress)
    typer.echo(f"wrote {total} videos; manifest: {manifest}")


@app.command()
def prepare(
    manifest: Annotated[Path, typer.Argument(help="Manifest CSV (video, child, start[, end, label, cohort]).")],
    cache: Annotated[Path, typer.Option(help="Segment cache folder.")],
    frames: Annotated[int, typer.Option(help="Frames per clip (T).")] = 16,
    size: Annotated[int, typer.Option(help="Square clip side in pixels (S).")] = 224,
    temporal: Annotated[str, typer.Option(help="resize: whole segment to T frames (paper); clips: K clips of 16 at stride 4.")] = "resize",
    clips: Annotated[int, typer.Option(help="K clips for --temporal clips.")] = 3,
    spatial: Annotated[str, typer.Option(help="squash (paper), pad or crop.")] = "squash",
    crop_infant: Annotated[bool, typer.Option(help="Cut each segment around the infant first (built-in motion localiser; for wide views).")] = False,
    workers: Annotated[int, typer.Option(help="Processes (0: all cores).")] = 0,
    strict: Annotated[bool, typer.Option(help="Stop at the first bad video instead of skipping it.")] = False,
) -> None:
    """Decode and resize every segment once into the cache (resumable)."""
    from spasmscope.cache import prepare as run_prepare
    from spasmscope.manifest import read_manifest
    from spasmscope.progress import bar

    cfg = _clip_config(frames, size, temporal, clips, spatial, crop_infant)
    m = read_manifest(manifest)
    result = run_prepare(m, cache, cfg, workers=workers or None, strict=strict, progress=lambda total, done: bar(total, "prepare segments", done))
    _report_skipped(result.skipped.items)
    typer.echo(f"{result.total} segments: {result.decoded} decoded, {result.cached} already cached, {len(result.skipped)} skipped; cache: {cache}")
    if result.skipped:
        raise typer.Exit(EXIT_SKIPPED)


def _clip_config(frames: int, size: int, temporal: str, clips: int, spatial: str, crop_infant: bool = False):
    from spasmscope.preprocess import ClipConfig

    try:
        return ClipConfig(frames=frames, size=size, temporal=temporal, clips=clips, spatial=spatial, crop_infant=crop_infant)
    except ValueError as e:
        raise InputError(None, str(e).split(";")[0], str(e).split(";")[-1].strip()) from None


@app.command()
def probe(
    inputs: Annotated[list[Path], typer.Argument(help="Video files, or one manifest CSV.")],
    out: Annotated[Path, typer.Option(help="CSV to write: a row per video and per segment.")],
    table1: Annotated[Path | None, typer.Option(help="Also write Table 1 (median [IQR] per cohort) to this CSV.")] = None,
    workers: Annotated[int, typer.Option(help="Processes (0: all cores).")] = 0,
    strict: Annotated[bool, typer.Option(help="Stop at the first bad video instead of skipping it.")] = False,
) -> None:
    """Measure video characteristics (resolution, rate, bitrate, brightness, night, motion, sharpness)."""
    from spasmscope import atomic
    from spasmscope.characteristics import characterise, cohort_table, format_table1
    from spasmscope.progress import bar

    manifest, videos = _manifest_or_videos(inputs)
    if manifest is None and len(videos) == 1 and strict is False:
        strict = True  # a single file: its error is the answer
    table, skipped = characterise(videos, manifest=manifest, workers=workers or None, strict=strict, progress=lambda total, done: bar(total, "probe videos", done))
    _report_skipped(skipped.items)
    if len(table) == 0:
        raise InputError(inputs[0], "no readable video", "check the files listed above")
    atomic.write_csv(out, table)
    n_videos = int((table["level"] == "video").sum())
    typer.echo(f"wrote {out}: {n_videos} videos, {len(table) - n_videos} segments")
    if manifest is not None:
        long = cohort_table(table)
        if table1 is not None:
            atomic.write_csv(table1, long)
        typer.echo(format_table1(long).to_string())
    if skipped:
        raise typer.Exit(EXIT_SKIPPED)


# --- the detector: cross-validation, final model, external evaluation ----------------------------------

PresetOpt = Annotated[str, typer.Option(help="cpu: small Hiera on 16x64x64 clips, trains on 2 CPU cores in minutes; paper: Hiera-B 16x224x224.")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help=r"TOML file with \[model], \[clip] and \[train] tables changing the preset.")]
WeightsOpt = Annotated[
    str | None,
    typer.Option(help="Backbone start: default (the cpu backbone shipped with spasmscope), none (random), hub (download the official "
                 "Kinetics-400 file, CC BY-NC 4.0), an official .pth, or a folder with config.json + model.safetensors (e.g. from "
                 "`spasmscope pretrain`). Not given: default for a cpu-sized model, random for other sizes; the paper preset needs one."),
]  # fmt: skip
CacheOpt = Annotated[Path | None, typer.Option(help="Segment cache folder (default: OUT/cache); share it between runs to decode once.")]
WorkersOpt = Annotated[int, typer.Option(help="Processes for decoding (0: all cores).")]
StrictOpt = Annotated[bool, typer.Option(help="Stop at the first bad video instead of skipping it.")]
EpochsOpt = Annotated[int | None, typer.Option(help="Change the preset's number of epochs.")]
LrOpt = Annotated[float | None, typer.Option(help="Change the preset's learning rate.")]
SeedOpt = Annotated[int | None, typer.Option(help="Change the seed (initialisation, order, augmentation; fold k uses seed + k).")]
FreezeOpt = Annotated[str | None, typer.Option(help="none (full fine-tuning), backbone (linear probe) or early (first two stages fixed).")]
Table1Opt = Annotated[bool, typer.Option(help="Measure the videos for Table 1 of the report.")]


def _run_config(preset: str, config: Path | None, epochs: int | None, lr: float | None, seed: int | None, freeze: str | None):
    from spasmscope.config import load_config

    try:
        return load_config(preset, config, epochs=epochs, lr=lr, seed=seed, freeze=freeze)
    except ValueError as e:
        raise InputError(None, f"--preset {preset}: {e}".split(";")[0], "use --preset cpu or --preset paper") from None


def _weights(weights: str | None, cfg) -> str:
    """``--weights`` as given; when not given, the shipped backbone for a ``cpu``-sized model, and for the paper
    preset a refusal (fine-tuning random Hiera-B would not be the paper's method)."""
    from spasmscope.weights import default_weights

    if weights is not None:
        return weights
    if cfg.preset == "paper":
        raise InputError(
            None, "the paper preset fine-tunes the Kinetics-400 Hiera-B weights, and none were given",
            "pass --weights hub (downloads 200 MB once, CC BY-NC 4.0), --weights FILE.pth, or --weights none to start from random weights",
        )  # fmt: skip
    return default_weights(cfg)


def _table1(manifest, out: Path, workers: int, threshold: float) -> None:
    """Characteristics, Table 1 and the factor analysis (video quality against false alarms) of a run whose
    predictions are written, for the report (METHOD §7)."""
    import json

    import pandas as pd

    from spasmscope import atomic
    from spasmscope.characteristics import characterise, cohort_table
    from spasmscope.factors import factor_analysis
    from spasmscope.progress import bar

    table, _ = characterise(manifest.videos, manifest=manifest, workers=workers or None, progress=lambda total, done: bar(total, "measure videos", done))
    atomic.write_csv(out / "characteristics.csv", table)
    atomic.write_csv(out / "table1.csv", cohort_table(table))
    predictions = pd.read_csv(out / "predictions.csv", keep_default_na=False, na_values=[""])
    atomic.write_json(out / "factors.json", json.loads(json.dumps(factor_analysis(predictions, table, threshold), default=float)))


def _print_metrics(metrics: dict, out: Path, report: Path) -> None:
    p, pc = metrics["pooled"], metrics["per_child"]

    def f(v):
        return "n/a" if v is None else f"{v:.3f}"

    typer.echo(f"{metrics['n_segments']} segments, {metrics['n_children']} children; pooled: " + ", ".join(f"{k} {f(p.get(k))}" for k in ("auc", "sensitivity", "specificity", "accuracy", "far")))
    typer.echo("mean over children [95% CI]: " + ", ".join(f"{k} {f(v['mean'])} [{f(v['ci_low'])}, {f(v['ci_high'])}]" for k, v in pc.items()))
    typer.echo(f"wrote {out}/predictions.csv, {out}/metrics.json; report: {report}")


@app.command()
def cv(
    manifest: Annotated[Path, typer.Argument(help="Labelled manifest CSV (video, child, start, label[, cohort]).")],
    out: Annotated[Path, typer.Option(help="Run folder: predictions.csv, metrics.json, report.html, a folder per fold.")],
    preset: PresetOpt = "cpu",
    config: ConfigOpt = None,
    folds: Annotated[int, typer.Option(help="Number of child-level folds.")] = 5,
    train_only: Annotated[list[str], typer.Option(help="Cohort whose rows join every training fold and no test fold (repeat for several).")] = ["healthy"],  # noqa: B006
    weights: WeightsOpt = None,
    cache: CacheOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    seed: SeedOpt = None,
    freeze: FreezeOpt = None,
    table1: Table1Opt = True,
    workers: WorkersOpt = 0,
    strict: StrictOpt = False,
) -> None:
    """Child-level k-fold cross-validation as in the paper; a killed run resumes at its first unfinished fold."""
    from spasmscope.manifest import read_manifest
    from spasmscope.report import write_report
    from spasmscope.validate import cross_validate

    cfg = _run_config(preset, config, epochs, lr, seed, freeze)
    m = read_manifest(manifest, require_labels=True)
    if folds < 2:
        raise InputError(None, f"--folds {folds}", "cross-validation needs at least 2 folds")
    _, metrics, skipped = cross_validate(m, out, cfg, folds, tuple(train_only), _weights(weights, cfg), cache, workers or None, strict)
    if table1:
        _table1(m, out, workers, metrics["threshold"])
    report = write_report(out, f"Child-level {folds}-fold cross-validation: {manifest.name}")
    _report_skipped(skipped.items)
    _print_metrics(metrics, out, report)
    if skipped:
        raise typer.Exit(EXIT_SKIPPED)


@app.command()
def train(
    manifest: Annotated[Path, typer.Argument(help="Labelled manifest CSV: every row trains the final model.")],
    out: Annotated[Path, typer.Option(help="Model folder: model.safetensors, config.json, train.jsonl.")],
    preset: PresetOpt = "cpu",
    config: ConfigOpt = None,
    weights: WeightsOpt = None,
    cache: CacheOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    seed: SeedOpt = None,
    freeze: FreezeOpt = None,
    workers: WorkersOpt = 0,
    strict: StrictOpt = False,
) -> None:
    """Train the final model on all rows (derivation and train-only cohorts)."""
    from spasmscope.manifest import read_manifest
    from spasmscope.validate import train_final

    cfg = _run_config(preset, config, epochs, lr, seed, freeze)
    records, skipped = train_final(read_manifest(manifest, require_labels=True), out, cfg, _weights(weights, cfg), cache, workers or None, strict)
    _report_skipped(skipped.items)
    typer.echo(f"trained {cfg.preset} model, {len(records)} epochs, final loss {records[-1]['loss']:.4f}; model in {out}")
    if skipped:
        raise typer.Exit(EXIT_SKIPPED)


@app.command()
def evaluate(
    model: Annotated[Path, typer.Argument(help="Model folder written by `spasmscope train`.")],
    manifest: Annotated[Path, typer.Argument(help="Labelled manifest CSV of an external cohort.")],
    out: Annotated[Path, typer.Option(help="Folder: predictions.csv, metrics.json, report.html.")],
    threshold: Annotated[float | None, typer.Option(help="Decision threshold (default: the model's, fixed beforehand at 0.5).")] = None,
    cache: CacheOpt = None,
    table1: Table1Opt = True,
    workers: WorkersOpt = 0,
    strict: StrictOpt = False,
) -> None:
    """Score an external cohort with a trained model at the fixed threshold."""
    from spasmscope.manifest import read_manifest
    from spasmscope.report import write_report
    from spasmscope.validate import evaluate as run_evaluate

    if threshold is not None and not 0 < threshold < 1:
        raise InputError(None, f"--threshold {threshold}", "give a probability strictly between 0 and 1")
    m = read_manifest(manifest, require_labels=True)
    _, metrics, skipped = run_evaluate(model, m, out, threshold, cache, workers or None, strict)
    if table1:
        _table1(m, out, workers, metrics["threshold"])
    report = write_report(out, f"External evaluation: {manifest.name}")
    _report_skipped(skipped.items)
    _print_metrics(metrics, out, report)
    if skipped:
        raise typer.Exit(EXIT_SKIPPED)


# --- screening recordings ---------------------------------------------------------------------------


@app.command()
def screen(
    model: Annotated[Path, typer.Argument(help="Model folder from `spasmscope train` (model.safetensors + config.json).")],
    videos: Annotated[list[Path], typer.Argument(help="Recordings to screen, any length.")],
    out: Annotated[Path, typer.Option(help="Folder for windows.csv, events.csv, timelines/, report.html.")],
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
) -> None:
    """Screen recordings for spasms: score 5-s windows, gate their quality, merge detections, write a report."""

    from spasmscope.events import align_videos
    from spasmscope.manifest import read_events
    from spasmscope.progress import bar
    from spasmscope.screen import ScreenConfig
    from spasmscope.screen import screen as run_screen
    from spasmscope.screen_report import write_screen_report

    try:
        cfg = ScreenConfig(hop=hop, threshold=threshold, crop=crop, detector=str(detector or ""), merge_gap=merge_gap, min_visibility=min_visibility, light_change=light_change, views=views)
    except ValueError as e:
        raise InputError(None, str(e).split(";")[0], str(e).split(";")[-1].strip()) from None
    paths = [str(v) for v in videos]
    reference = None
    if events is not None:
        reference = align_videos(read_events(events), paths, events.parent)
    result = run_screen(model, paths, out, cfg, strict=strict or len(paths) == 1, progress=lambda total, done: bar(total, "screen windows", done))
    _report_skipped(result.skipped)
    report = write_screen_report(out, threshold, reference)
    w = result.windows
    typer.echo(f"screened {w['video'].nunique()} recording(s), {len(w)} windows ({int((w['valid'] == 0).sum())} not scored); "
               f"{len(result.events)} detection(s); report: {report}")  # fmt: skip
    if result.skipped:
        raise typer.Exit(EXIT_SKIPPED)


@app.command("score-events")
def score_events(
    windows: Annotated[Path, typer.Argument(help="windows.csv written by `spasmscope screen`.")],
    events: Annotated[Path, typer.Argument(help="Annotated spasms: CSV with video,onset,offset (seconds).")],
    out: Annotated[Path, typer.Option(help="Folder for event_metrics.json, sweep.csv, sweep.png and detections/*.tsv.")],
    threshold: Annotated[float, typer.Option(help="Window threshold for the detections scored.")] = 0.5,
    merge_gap: Annotated[float, typer.Option(help="Positive windows up to this many seconds apart form one detection.")] = 0.0,
    tolerance_start: Annotated[float, typer.Option(help="Seconds a detection may start before a spasm and still count.")] = 2.5,
    tolerance_end: Annotated[float, typer.Option(help="Seconds a detection may lie after a spasm and still count.")] = 2.5,
    cluster_gap: Annotated[float, typer.Option(help="Spasms less than this many seconds apart form one cluster.")] = 60.0,
    max_duration: Annotated[float, typer.Option(help="At spasm level, longer detections are split into pieces of this many seconds before matching.")] = 10.0,
    target_fa_per_24h: Annotated[float | None, typer.Option(help="Also choose the threshold with the best sensitivity at most this many false alarms per 24 h.")] = None,
) -> None:
    """Event-level scoring of a screening run against annotated spasms (sensitivity, precision, F1, false alarms per
    24 h, latency, deficiency time; spasm and cluster level), a threshold sweep, and SzCORE/BIDS detection files."""
    import numpy as np

    from spasmscope import atomic
    from spasmscope.events import (
        EventParams,
        align_videos,
        choose_threshold,
        detections,
        recording_durations,
        sweep,
        szcore_tsv,
    )
    from spasmscope.events import score_events as run_scoring
    from spasmscope.manifest import read_events
    from spasmscope.screen import read_windows
    from spasmscope.screen_report import sweep_figure

    table = read_windows(windows)
    try:
        params = EventParams(threshold=threshold, merge_gap=merge_gap, tolerance_start=tolerance_start, tolerance_end=tolerance_end,
                             max_duration=max_duration, cluster_gap=cluster_gap)  # fmt: skip
    except ValueError as e:
        raise InputError(None, str(e).split(";")[0], str(e).split(";")[-1].strip()) from None
    videos = list(table["video"].unique())
    reference = align_videos(read_events(events), videos, events.parent)
    metrics = run_scoring(table, reference, params)
    grid = np.round(np.arange(0.05, 1.0, 0.05), 2)
    sweep_table = sweep(table, reference, params, grid)
    chosen = None
    if target_fa_per_24h is not None:
        chosen = choose_threshold(sweep_table, target_fa_per_24h)
        metrics["target_false_alarms_per_24h"] = target_fa_per_24h
        metrics["chosen_threshold"] = chosen
    atomic.write_json(out / "event_metrics.json", metrics)
    atomic.write_csv(out / "sweep.csv", sweep_table)
    atomic.write_bytes(out / "sweep.png", sweep_figure(sweep_table, chosen))
    for video, duration in recording_durations(table).items():
        found = detections(table[table["video"] == video], params.threshold, params.merge_gap)
        atomic.write_with(out / "detections" / f"{Path(video).stem}_events.tsv", lambda f, d=found, t=duration: szcore_tsv(d, t).to_csv(f, sep="\t", index=False))
    s, c = metrics["spasm"], metrics["cluster"]

    def pct(v) -> str:
        return "n/a" if v is None else f"{v:.0%}"

    typer.echo(f"spasm level: sensitivity {pct(s['sensitivity'])} ({s['true_positive']}/{s['reference_events']}), precision {pct(s['precision'])}, "
               f"false alarms {s['false_alarms_per_24h'] or 0:.1f} per 24 h; cluster level: sensitivity {pct(c['sensitivity'])} "
               f"({c['true_positive']}/{c['reference_events']}), false alarms {c['false_alarms_per_24h'] or 0:.1f} per 24 h; deficiency {pct(s['deficiency_share'])}")  # fmt: skip
    if target_fa_per_24h is not None:
        typer.echo(f"threshold for at most {target_fa_per_24h:g} false alarms per 24 h: {'none meets it' if chosen is None else f'{chosen:g}'}")
    typer.echo(f"wrote {out / 'event_metrics.json'}, {out / 'sweep.csv'}, {out / 'sweep.png'}, {out / 'detections'}")


BackboneOutOpt = Annotated[Path, typer.Option(help="Backbone folder: model.safetensors, config.json, pretrain.jsonl (pass it to --weights).")]
pretrain_app = typer.Typer(help="Pretrain a Hiera backbone before fine-tuning on a small cohort.", no_args_is_help=True)
app.add_typer(pretrain_app, name="pretrain")


@pretrain_app.command("supervised")
def pretrain_supervised(
    out: BackboneOutOpt,
    preset: PresetOpt = "cpu",
    config: ConfigOpt = None,
    steps: Annotated[int, typer.Option(help="Optimiser steps; each draws batch-size new synthetic clips.")] = 2000,
    batch_size: Annotated[int, typer.Option(help="Clips per step.")] = 32,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW, linear warm-up, cosine decay).")] = 1e-3,
    seed: Annotated[int, typer.Option(help="Seed of the initialisation and of the synthetic stream (disjoint from every `synth --seed` cohort).")] = 0,
    wide_fraction: Annotated[float, typer.Option(help="Share of wide-view (video-EEG) clips in the stream.")] = 0.12,
    night_fraction: Annotated[float, typer.Option(help="Share of close-view clips recorded at night.")] = 0.08,
    weights: Annotated[str, typer.Option(help="Start from these weights instead of random ones (a backbone folder, an official .pth, ...).")] = "none",
    curriculum: Annotated[float, typer.Option(help="Share of the steps over which easy clips fall from all to 20% (0: 20% from the start, to continue a pretrained backbone).")] = 0.5,
    augment: Annotated[float, typer.Option(help="Probability of each of the paper's augmentations (vertical and horizontal flip, quarter turn, colour inversion) on a clip; 0: none.")] = 0.0,
    colour: Annotated[float, typer.Option(help="Probability of changing a clip's brightness, contrast and saturation (0.5-1.5, 0.6-1.4, 0-1.5); 0: never.")] = 0.0,
    zoom: Annotated[float, typer.Option(help="Probability of showing a clip as from a farther camera (shrunk to 0.5-1 of its side, edges mirrored); 0: never.")] = 0.0,
    workers: Annotated[int, typer.Option(help="Processes drawing clips while the model trains.")] = 1,
) -> None:
    """Supervised pretraining on labelled synthetic clips drawn on the fly (a new child and recording per clip);
    resumable: run the same command again after an interruption."""
    from dataclasses import replace

    from spasmscope.pretrain import PretrainConfig
    from spasmscope.pretrain import pretrain_supervised as run_pretrain
    from spasmscope.progress import bar
    from spasmscope.synth.stream import StreamConfig

    cfg = _run_config(preset, config, None, None, None, None)
    if cfg.clip.temporal != "resize":
        raise InputError(config, f"[clip] temporal = {cfg.clip.temporal!r}", "pretraining draws temporal = 'resize' clips; remove that setting")
    try:
        recipe = PretrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, curriculum=curriculum, augment_p=augment, colour_p=colour, zoom_p=zoom)
        stream = StreamConfig(seed=seed, wide_fraction=wide_fraction, night_fraction=night_fraction)
    except ValueError as e:
        raise InputError(None, str(e).split(";")[0], "change that option") from None
    cfg = replace(cfg, train=replace(cfg.train, seed=seed))
    with bar(steps, "pretrain") as advance:
        record = run_pretrain(out, cfg, recipe, stream, weights, max(0, workers), advance)
    typer.echo(f"pretrained {steps} steps: validation AUC {record.get('val_auc', float('nan')):.3f}; backbone in {out} (use --weights {out})")


def _window_count(videos: list[str], hop: float) -> int:
    """Windows of the readable recordings among ``videos`` (for a progress bar)."""
    from spasmscope.errors import VideoError
    from spasmscope.events import WINDOW_S, window_spans
    from spasmscope.video import probe

    total = 0
    for v in videos:
        try:
            total += len(window_spans(probe(v).duration, WINDOW_S, hop))
        except VideoError:
            pass
    return total


@pretrain_app.command("mae")
def pretrain_mae(
    inputs: Annotated[list[Path], typer.Argument(help="Unlabeled recordings (any length), or one manifest CSV of segments.")],
    out: BackboneOutOpt,
    weights: Annotated[str, typer.Option(help="Start from these weights: none, default (the shipped cpu backbone), a backbone folder, an official .pth.")] = "none",
    preset: PresetOpt = "cpu",
    config: ConfigOpt = None,
    steps: Annotated[int, typer.Option(help="Optimiser steps.")] = 1000,
    batch_size: Annotated[int, typer.Option(help="Clips per step.")] = 16,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW, warm-up, cosine decay).")] = 3e-4,
    mask_ratio: Annotated[float, typer.Option(help="Share of mask units hidden from the encoder.")] = 0.75,
    hop: Annotated[float, typer.Option(help="Seconds between windows taken from recordings.")] = 5.0,
    seed: Annotated[int, typer.Option(help="Seed of the initialisation, batches and masks.")] = 0,
    cache: CacheOpt = None,
    workers: WorkersOpt = 0,
) -> None:
    """Masked-autoencoder pretraining on unlabeled recordings (Hiera's own method): adapt a backbone to your
    cameras before fine-tuning; resumable: run the same command again after an interruption."""
    import hashlib

    from spasmscope.cache import SegmentCache, load_clips, prepare
    from spasmscope.mae import MaeConfig, pretrain_mae as run_mae, window_clips
    from spasmscope.progress import bar

    cfg = _run_config(preset, config, None, None, None, None)
    try:
        recipe = MaeConfig(steps=steps, batch_size=batch_size, lr=lr, mask_ratio=mask_ratio, seed=seed)
    except ValueError as e:
        raise InputError(None, str(e).split(";")[0], str(e).split(";")[-1].strip()) from None
    cache_root = cache or out / "cache"
    manifest, videos = _manifest_or_videos(inputs)
    if manifest is not None:
        result = prepare(manifest, cache_root, cfg.clip, workers=workers or None, progress=lambda total, done: bar(total, "prepare segments", done))
        _report_skipped(result.skipped.items)
        skipped = result.skipped.items
        unreadable = {what for what, _ in skipped}
        spans = [(r.path, float(r.start), float(r.end)) for r in manifest.rows.itertuples() if r.path not in unreadable]
    else:
        with bar(_window_count(videos, hop), "cut windows") as advance:
            spans, skipped = window_clips(videos, cache_root, cfg, hop, advance)
        _report_skipped(skipped)
    clip_cache = SegmentCache(cache_root, cfg.clip)
    fingerprint = hashlib.sha256("".join(f"{clip_cache.digest(v)},{s:g},{e:g}\n" for v, s, e in spans).encode()).hexdigest()

    def load(i: int):
        return load_clips(clip_cache, *spans[i])

    with bar(steps, "pretrain mae") as advance:
        record = run_mae(out, cfg, recipe, load, len(spans), fingerprint, weights, advance)
    typer.echo(f"MAE pretraining on {len(spans)} windows: {steps} steps, final reconstruction loss {record.get('loss', float('nan')):.4f}; backbone in {out} (use --weights {out})")
    if skipped:
        raise typer.Exit(EXIT_SKIPPED)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(ctx: typer.Context) -> None:
    """Speed and memory against their limits (benchmarks/run.py of a source checkout; `python benchmarks/run.py --help` lists its options)."""
    import runpy

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"
    if not script.is_file():
        raise InputError(script, "the benchmark script is not in this installation", "run it from a source checkout: python benchmarks/run.py")
    sys.argv = [str(script), *ctx.args]
    runpy.run_path(str(script), run_name="__main__")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's cohorts, runs and reports.")] = Path("demo-run"),
    children: Annotated[int, typer.Option(help="Children with spasms in the synthetic derivation cohort.")] = 20,
    healthy: Annotated[int, typer.Option(help="Healthy infants (train-only) in the derivation cohort.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic cohorts.")] = 0,
) -> None:
    """The study on embedded synthetic cohorts: synth -> cv -> train -> evaluate on an external cohort -> reports."""
    cache = out / "cache"
    derivation, external = out / "cohort", out / "external"
    synth(derivation, children=children, healthy=healthy, seed=seed, cohort="derivation", healthy_cohort="healthy", id_prefix="",
          wide_fraction=0.12, night_fraction=0.08, long_minutes=0.0, long_count=1, shifted_look=False, workers=0)  # fmt: skip
    # The external cohort: other children (another seed and prefix), more night and wide-view recordings, and
    # seizure-free children who are tested, so its report has a false-alarm rate.
    synth(external, children=max(4, children // 3), healthy=max(2, healthy // 3), seed=seed + 500, cohort="external", healthy_cohort="external-healthy",
          id_prefix="x", wide_fraction=0.3, night_fraction=0.25, long_minutes=0.0, long_count=1, shifted_look=False, workers=0)  # fmt: skip
    common = dict(preset="cpu", config=None, weights=None, cache=cache, epochs=None, lr=None, seed=None, freeze=None, workers=0, strict=False)
    typer.echo("== child-level 5-fold cross-validation")
    cv(derivation / "manifest.csv", out=out / "cv", folds=5, train_only=["healthy"], table1=True, **common)
    typer.echo("== final model on every derivation and healthy row")
    train(derivation / "manifest.csv", out=out / "model", **common)
    typer.echo("== external cohort at the fixed threshold")
    evaluate(out / "model", external / "manifest.csv", out=out / "external-eval", threshold=None, cache=cache, table1=True, workers=0, strict=False)
    typer.echo(f"reports: {out / 'cv' / 'report.html'} (cross-validation), {out / 'external-eval' / 'report.html'} (external cohort)")


def main() -> None:
    """Console entry point: run the app; bad input is one line on stderr and exit status 2."""
    try:
        app()
    except InputError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        typer.echo("interrupted; finished work is kept, run the same command again to resume", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
