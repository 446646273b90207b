"""Commands of the study: ``cv``, ``train``, ``evaluate`` and ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spasmscope.cli.app import (
    CacheOpt,
    ConfigOpt,
    EpochsOpt,
    FreezeOpt,
    LrOpt,
    PresetOpt,
    RayOpt,
    SeedOpt,
    StrictOpt,
    Table1Opt,
    WeightsOpt,
    WorkersOpt,
    app,
    finish,
    print_metrics,
    report_skipped,
    workers_or_all,
)
from spasmscope.cli.bars import bars


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
    ray: RayOpt = None,
) -> None:
    """Child-level k-fold cross-validation as in the paper; a killed run resumes at its unfinished folds."""
    from spasmscope.data.manifest import read_manifest
    from spasmscope.model.config import load_config
    from spasmscope.model.folder import check_weights
    from spasmscope.study.folds import check_fold_count, manifest_folds

    # The manifest, the settings and the weights are checked before torch loads: a mistake is told in a second.
    rows = read_manifest(manifest, require_labels=True)
    cfg = load_config(preset, config, epochs=epochs, lr=lr, seed=seed, freeze=freeze)
    check_weights(weights, cfg.preset)
    if ray is not None:
        from spasmscope.cluster import ray_module

        ray_module()  # says how to install Ray before any work is done
    check_fold_count(folds)
    manifest_folds(rows.rows, rows.path, folds, tuple(train_only), cfg.train.seed)  # enough children with spasms to test
    from spasmscope.model import distributed
    from spasmscope.model.weights import resolve_weights
    from spasmscope.study.validate import cross_validate

    distributed.start_from_env()  # under torchrun: each fold's training over the processes
    with bars(distributed.is_main()) as progress:
        result = cross_validate(rows, out, cfg, folds, tuple(train_only), resolve_weights(weights, cfg), cache,
                                workers_or_all(workers), strict, table1, progress, ray)  # fmt: skip
    if distributed.is_main():
        report_skipped(result.skipped.items)
        print_metrics(result.metrics, out, result.report)
    finish(result.skipped.items)


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
    calibrate_with: Annotated[Path | None, typer.Option(help="A cv run folder of the same recipe: fit a temperature on its cross-validated scores and store it with the model.")] = None,
) -> None:
    """Train the final model on all rows (derivation and train-only cohorts)."""
    from spasmscope.data.manifest import read_manifest
    from spasmscope.model.config import load_config
    from spasmscope.model.folder import check_weights

    # Checked before torch loads, as in `cv`.
    rows = read_manifest(manifest, require_labels=True)
    cfg = load_config(preset, config, epochs=epochs, lr=lr, seed=seed, freeze=freeze)
    check_weights(weights, cfg.preset)
    if calibrate_with is not None:
        from spasmscope.study.runs import check_cv_run

        check_cv_run(calibrate_with, cfg)
    from spasmscope.model import distributed
    from spasmscope.model.weights import resolve_weights
    from spasmscope.study.validate import train_final

    distributed.start_from_env()  # under torchrun: one training over the processes
    with bars(distributed.is_main()) as progress:
        records, skipped = train_final(rows, out, cfg, resolve_weights(weights, cfg), cache,
                                       workers_or_all(workers), strict, progress, calibrate_with)  # fmt: skip
    if distributed.is_main():
        report_skipped(skipped.items)
        typer.echo(f"trained {cfg.preset} model, {len(records)} epochs, final loss {records[-1]['loss']:.4f}; model in {out}")
    finish(skipped.items)


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
    from spasmscope.data.manifest import read_manifest
    from spasmscope.model.config import check_threshold
    from spasmscope.model.folder import read_model_config

    # Checked before torch loads, as in `cv`.
    if threshold is not None:
        check_threshold(threshold)
    read_model_config(model)
    rows = read_manifest(manifest, require_labels=True)
    from spasmscope.study.validate import evaluate as run_evaluate

    with bars() as progress:
        result = run_evaluate(model, rows, out, threshold, cache, workers_or_all(workers), strict, table1, progress)
    report_skipped(result.skipped.items)
    print_metrics(result.metrics, out, result.report)
    finish(result.skipped.items)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's cohorts, runs and reports.")] = Path("demo-run"),
    children: Annotated[int, typer.Option(help="Children with spasms in the synthetic derivation cohort.")] = 20,
    healthy: Annotated[int, typer.Option(help="Healthy infants (train-only) in the derivation cohort.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic cohorts.")] = 0,
    epochs: Annotated[int | None, typer.Option(help="Change the preset's number of epochs in every fit (fewer: a quicker check that it runs, weaker figures).")] = None,
) -> None:
    """The study on embedded synthetic cohorts: synth -> cv -> train -> evaluate on an external cohort -> reports."""
    from spasmscope.model.config import load_config
    from spasmscope.study.folds import FOLDS, check_fold_count
    from spasmscope.synth import SynthConfig

    # The cohorts, the folds and the recipe are checked before torch loads and before minutes of drawing.
    cohort, cfg = SynthConfig(children=children, healthy=healthy, seed=seed), load_config("cpu", epochs=epochs)
    check_fold_count(FOLDS, children)
    from spasmscope.study.demo import run_demo

    with bars() as progress:
        result = run_demo(out, cohort, cfg, progress)
    typer.echo(f"== child-level {FOLDS}-fold cross-validation")
    print_metrics(result.cv.metrics, out / "cv", result.cv.report)
    typer.echo("== final model on every derivation and healthy row, scored on the external cohort at the fixed threshold")
    print_metrics(result.external.metrics, out / "external-eval", result.external.report)
    typer.echo(f"reports: {result.cv.report} (cross-validation), {result.external.report} (external cohort)")
