"""Commands of the data stage: ``synth``, ``prepare``, ``probe``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spasmscope.cli.app import StrictOpt, app, finish, report_skipped, workers_or_all
from spasmscope.cli.bars import bars


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
    renderer: Annotated[str, typer.Option(help="Which renderer draws the videos: articulated, silhouette, photo, shaded or splat (the family the shipped backbone saw), or implicit (which no shipped backbone has seen).")] = "articulated",
    startle_rate: Annotated[float, typer.Option(help="Share of segments without a spasm that hold a startle reflex (manifest column startle).")] = 0.0,
    mimic_rate: Annotated[float, typer.Option(help="Share of the other segments without a spasm that hold another mimic: sleep myoclonus, hiccups, crying, a stretch, feeding, being rocked, patted or lifted (manifest column mimic).")] = 0.0,
    spasm_variety: Annotated[float, typer.Option(help="Share of children whose spasms take another form: asymmetric, a head nod or a shrug.")] = 0.0,
    workers: Annotated[int, typer.Option(help="Processes (0: all cores).", min=0)] = 0,
) -> None:
    """Write a synthetic cohort of infant videos with spasms, for demos and tests."""
    from spasmscope.synth import SynthConfig, generate, plan_cohort

    cfg = SynthConfig(children=children, healthy=healthy, seed=seed, cohort=cohort, healthy_cohort=healthy_cohort, id_prefix=id_prefix,
                      wide_fraction=wide_fraction, night_fraction=night_fraction, long_minutes=long_minutes, long_count=long_count,
                      shifted_look=shifted_look, renderer=renderer, startle_rate=startle_rate,
                      mimic_rate=mimic_rate, spasm_variety=spasm_variety)  # fmt: skip
    with bars() as progress:
        manifest = generate(cfg, out, workers=workers_or_all(workers), progress=progress)
    typer.echo(f"wrote {len(plan_cohort(cfg))} videos; manifest: {manifest}")


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
    steady: Annotated[bool, typer.Option(help="Hold a moving camera's frames onto each segment's middle frame first (as the cpu preset does).")] = False,
    phases: Annotated[int, typer.Option(help="resize mode: read each segment this many times, each a fraction of a frame interval later ([clip] phases).")] = 1,
    workers: Annotated[int, typer.Option(help="Processes (0: all cores).", min=0)] = 0,
    strict: StrictOpt = False,
) -> None:
    """Decode and resize every segment once into the cache (resumable)."""
    from spasmscope.data.cache import prepare as run_prepare
    from spasmscope.data.manifest import read_manifest
    from spasmscope.data.preprocess import ClipConfig

    cfg = ClipConfig(frames=frames, size=size, temporal=temporal, clips=clips, spatial=spatial, crop_infant=crop_infant, steady=steady, phases=phases)
    with bars() as progress:
        result = run_prepare(read_manifest(manifest), cache, cfg, workers=workers_or_all(workers), strict=strict, progress=progress)
    report_skipped(result.skipped.items)
    typer.echo(f"{result.total} segments: {result.decoded} decoded, {result.cached} already cached, {result.left_out} left out (listed above); cache: {cache}")
    finish(result.skipped.items)


@app.command()
def probe(
    inputs: Annotated[list[Path], typer.Argument(help="Video files, or one manifest CSV.")],
    out: Annotated[Path, typer.Option(help="CSV to write: a row per video and per segment.")],
    table1: Annotated[Path | None, typer.Option(help="Also write Table 1 (median [IQR] per cohort) to this CSV.")] = None,
    workers: Annotated[int, typer.Option(help="Processes (0: all cores).", min=0)] = 0,
    strict: StrictOpt = False,
) -> None:
    """Measure video characteristics (resolution, rate, bitrate, brightness, night, motion, sharpness)."""
    from spasmscope.data.characteristics import format_table1, probe_inputs

    with bars() as progress:
        table, long, skipped = probe_inputs(inputs, out, table1, workers_or_all(workers), strict, progress)
    report_skipped(skipped.items)
    videos = table[table["level"] == "video"]
    for path, note in zip(videos["path"], videos["note"], strict=True):
        if note:
            typer.echo(f"note: {path}: {note}", err=True)
    n_videos = len(videos)
    typer.echo(f"wrote {out}: {n_videos} videos, {len(table) - n_videos} segments")
    if long is not None:
        typer.echo(format_table1(long).to_string())
    finish(skipped.items)
