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


def _report_skipped(skipped) -> None:
    for what, reason in skipped.items:
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
    workers: Annotated[int, typer.Option(help="Processes (0: all cores).")] = 0,
    strict: Annotated[bool, typer.Option(help="Stop at the first bad video instead of skipping it.")] = False,
) -> None:
    """Decode and resize every segment once into the cache (resumable)."""
    from spasmscope.cache import prepare as run_prepare
    from spasmscope.manifest import read_manifest
    from spasmscope.progress import bar

    cfg = _clip_config(frames, size, temporal, clips, spatial)
    m = read_manifest(manifest)
    result = run_prepare(m, cache, cfg, workers=workers or None, strict=strict, progress=lambda total, done: bar(total, "prepare segments", done))
    _report_skipped(result.skipped)
    typer.echo(f"{result.total} segments: {result.decoded} decoded, {result.cached} already cached, {len(result.skipped)} skipped; cache: {cache}")
    if result.skipped:
        raise typer.Exit(EXIT_SKIPPED)


def _clip_config(frames: int, size: int, temporal: str, clips: int, spatial: str):
    from spasmscope.preprocess import ClipConfig

    try:
        return ClipConfig(frames=frames, size=size, temporal=temporal, clips=clips, spatial=spatial)
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
    _report_skipped(skipped)
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


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's cohort and outputs.")] = Path("demo-run"),
    children: Annotated[int, typer.Option(help="Children with spasms in the synthetic cohort.")] = 20,
    healthy: Annotated[int, typer.Option(help="Healthy infants in the synthetic cohort.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic cohort.")] = 0,
) -> None:
    """The whole job on an embedded synthetic cohort: synth -> prepare -> probe (Table 1)."""
    cohort = out / "cohort"
    synth(cohort, children=children, healthy=healthy, seed=seed, cohort="derivation", healthy_cohort="healthy", id_prefix="",
          wide_fraction=0.12, night_fraction=0.08, long_minutes=0.0, long_count=1, shifted_look=False, workers=0)  # fmt: skip
    prepare(cohort / "manifest.csv", cache=out / "cache", frames=16, size=112, temporal="resize", clips=3, spatial="squash", workers=0, strict=False)
    probe([cohort / "manifest.csv"], out=out / "characteristics.csv", table1=out / "table1.csv", workers=0, strict=False)
    typer.echo(f"demo outputs in {out}: cohort/, cache/, characteristics.csv, table1.csv")


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
