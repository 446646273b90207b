"""The study's runs (METHOD §5): child-level cross-validation, the final model, and external evaluation.

Each run folder describes itself (``run.json``: resolved config, version, seed, data fingerprint) and is
written so that a killed run loses at most the fold it was in: a fold is done when its ``predictions.csv``
exists, and a re-run starts at the first fold without one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from spasmscope import __version__, atomic
from spasmscope.data.batch import Skipped
from spasmscope.data.cache import SegmentCache, load_clips, prepare
from spasmscope.data.manifest import Manifest
from spasmscope.errors import InputError
from spasmscope.model import distributed
from spasmscope.model.config import RunConfig, check_threshold
from spasmscope.model.hiera import Hiera
from spasmscope.model.inference import LoadClips, predict
from spasmscope.model.scores import fit_temperature
from spasmscope.model.weights import load_backbone, load_model, save_model
from spasmscope.progress import Progress, counter
from spasmscope.study.folds import FOLDS, TRAIN_ONLY, check_fold_count, fold_rows, manifest_folds
from spasmscope.study.metrics import summarise
from spasmscope.study.report import write_report
from spasmscope.study.runs import METRICS_FILE, PREDICTIONS_FILE, REPORT_FILE, RUN_FILE, check_cv_run
from spasmscope.study.table1 import write_table1
from spasmscope.study.train import fit


@dataclass(frozen=True)
class RunResult:
    """What ``cross_validate`` and ``evaluate`` wrote."""

    predictions: pd.DataFrame
    metrics: dict
    skipped: Skipped
    report: Path


@dataclass(frozen=True)
class Segments:
    """The readable rows of a manifest with their cache: what training and scoring read."""

    rows: pd.DataFrame  # manifest rows (``path``, ``start``, ``end``, ...), index 0..n-1
    cache: SegmentCache
    skipped: Skipped

    def loader(self, positions: np.ndarray) -> LoadClips:
        """Row ``i`` of the subset ``positions`` -> its cached clips ``uint8 [K, T, S, S, 3]``."""
        paths = self.rows["path"].to_numpy()[positions]
        starts, ends = self.rows["start"].to_numpy()[positions], self.rows["end"].to_numpy()[positions]

        def load(i: int) -> np.ndarray:
            return load_clips(self.cache, paths[i], starts[i], ends[i])

        return load

    def fingerprint(self) -> str:
        """SHA-256 over each row's video content digest, segment, child and label: the data a run saw."""
        h = hashlib.sha256()
        for r in self.rows.itertuples(index=False):
            h.update(f"{self.cache.digest(r.path)},{r.start:g},{r.end:g},{r.child},{getattr(r, 'label', '')}\n".encode())
        return h.hexdigest()


def load_segments(manifest: Manifest, cache_root: Path, cfg: RunConfig, workers: int | None, strict: bool, progress: Progress | None = None) -> Segments:
    """Fill the cache for ``manifest`` (decoding only what is missing) and keep the rows that could be read."""
    result = prepare(manifest, cache_root, cfg.clip, workers=workers, strict=strict, progress=progress)
    unreadable = {what for what, _ in result.skipped.items}
    rows = manifest.rows[~manifest.rows["path"].isin(unreadable)].reset_index(drop=True)
    if rows.empty:
        raise InputError(manifest.path, "no readable segment", "check the videos listed above")
    return Segments(rows, SegmentCache(cache_root, cfg.clip), result.skipped)


def output_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """The manifest's own columns (``path`` and ``line`` are ours)."""
    return rows.drop(columns=[c for c in ("path", "line") if c in rows.columns])


def _check_run(out: Path, meta: dict) -> None:
    """A run folder belongs to one config and one dataset; resuming with another would mix them."""
    path = out / RUN_FILE
    meta = json.loads(json.dumps(meta))  # compare as stored: tuples become lists
    if path.exists():
        old = json.loads(path.read_text())
        for key in ("config", "data_fingerprint", "folds", "train_only", "weights"):
            if old.get(key) != meta.get(key):
                raise InputError(out, f"holds a run made with another {key.replace('_', ' ')}", "use a new --out folder, or delete this one to start over")
    else:
        out.mkdir(parents=True, exist_ok=True)
        atomic.write_json(path, meta)


def _new_model(cfg: RunConfig, weights: str, seed: int) -> tuple[Hiera, dict]:
    torch.manual_seed(seed)  # the random initialisation (and the fresh head) depend on the seed only
    model = Hiera(cfg.model)
    return model, load_backbone(model, weights)


def _load_weights_once(cfg: RunConfig, weights: str) -> None:
    """Load ``weights`` into a model of ``cfg`` once and drop it, before any segment is decoded: a file that is not a
    checkpoint, or weights of another size, is told in seconds, not after the cohort is prepared (minutes to hours)."""
    _new_model(cfg, weights, cfg.train.seed)


def cross_validate(
    manifest: Manifest,
    out: Path,
    cfg: RunConfig,
    k: int = FOLDS,
    train_only: tuple[str, ...] = ("healthy",),
    weights: str = "none",
    cache_root: Path | None = None,
    workers: int | None = None,
    strict: bool = False,
    table1: bool = True,
    progress: Progress | None = None,
    ray: str | None = None,
) -> RunResult:
    """Child-level k-fold CV; writes ``out/predictions.csv`` (test rows + ``fold`` 1..k + ``score``),
    ``out/metrics.json``, with ``table1`` Table 1 and the factor analysis, and ``out/report.html``. Resumes at the
    folds without predictions. With ``ray`` (an address, ``cluster.connect``) each of those folds is a Ray task;
    the run folder is the same."""
    check_fold_count(k)
    manifest_folds(manifest.rows, manifest.path, k, train_only, cfg.train.seed)  # before decoding: unreadable rows only lower the count
    _load_weights_once(cfg, weights)
    with distributed.main_first():
        segs = load_segments(manifest, cache_root or out / "cache", cfg, workers, strict, progress)
    folds = manifest_folds(segs.rows, manifest.path, k, train_only, cfg.train.seed)
    meta = {"spasmscope": __version__, "command": "cv", "config": cfg.as_dict(), "folds": k, "train_only": list(train_only),
            "weights": weights, "data_fingerprint": segs.fingerprint(), "manifest": str(manifest.path)}  # fmt: skip
    if distributed.is_main():
        _check_run(out, meta)
        atomic.write_csv(out / "folds.csv", pd.DataFrame({"child": segs.rows["child"], "fold": np.where(folds == TRAIN_ONLY, 0, folds + 1)}).drop_duplicates())
    distributed.barrier()
    parts: dict[int, pd.DataFrame] = {}
    for fold in range(k):
        done = out / f"fold-{fold + 1}" / PREDICTIONS_FILE
        if done.exists():
            counter(progress, f"fold {fold + 1}/{k}: done earlier, kept", 1, 1)
            parts[fold] = pd.read_csv(done, keep_default_na=False, na_values=[""])
    todo = [fold for fold in range(k) if fold not in parts]
    if ray is None:
        for fold in todo:
            parts[fold] = run_fold(segs, folds, fold, k, cfg, weights, out, progress)
    else:
        from spasmscope.study.on_ray import folds_on_ray

        parts.update(folds_on_ray(ray, segs, folds, todo, k, cfg, weights, out, progress))
    predictions = pd.concat([parts[fold] for fold in range(k)], ignore_index=True)
    metrics = summarise(predictions, cfg.train.threshold, seed=cfg.train.seed)
    if not distributed.is_main():
        return RunResult(predictions, metrics, segs.skipped, out / REPORT_FILE)
    atomic.write_csv(out / PREDICTIONS_FILE, predictions)
    atomic.write_json(out / METRICS_FILE, metrics)
    return _finish(manifest, out, predictions, metrics, segs, f"Child-level {k}-fold cross-validation: {manifest.path.name}", table1, workers, progress)


def run_fold(segs: Segments, folds: pd.Series, fold: int, k: int, cfg: RunConfig, weights: str, out: Path, progress: Progress | None = None) -> pd.DataFrame:
    """Train fold ``fold`` (0-based) of the ``k`` in ``folds`` (``assign_folds``) from its seed, score its test rows and write
    ``out/fold-{fold + 1}/``: ``train.jsonl``, ``weights.json`` and, last, ``predictions.csv``, whose existence
    marks the fold as finished. Returns those predictions. Depends on nothing but its arguments, so a fold gives
    the same predictions wherever it runs. Under ``torchrun`` every process trains and scores, process 0 writes."""
    fold_dir = out / f"fold-{fold + 1}"
    train_idx, test_idx = fold_rows(folds, fold)
    seed = cfg.train.seed + fold
    model, source = _new_model(cfg, weights, seed)
    log = fold_dir / "train.jsonl"
    if distributed.is_main():
        fold_dir.mkdir(parents=True, exist_ok=True)
        log.unlink(missing_ok=True)  # epochs of a killed attempt; this fold starts again from its seed
        atomic.clear_leftovers(fold_dir)  # and the half-written files it left
    fit(model, segs.loader(train_idx), segs.rows["label"].to_numpy()[train_idx], replace(cfg.train, seed=seed), log=log, progress=progress,
        stage=f"fold {fold + 1}/{k} train")  # fmt: skip
    scores = predict(model, segs.loader(test_idx), len(test_idx), flips=cfg.train.test_flips)
    part = output_columns(segs.rows.iloc[test_idx]).assign(fold=fold + 1, score=scores)
    if distributed.is_main():
        atomic.write_json(fold_dir / "weights.json", source)
        atomic.write_csv(fold_dir / PREDICTIONS_FILE, part)  # written last: its existence marks the fold as finished
    distributed.barrier()
    return part


def train_final(
    manifest: Manifest, out: Path, cfg: RunConfig, weights: str = "none", cache_root: Path | None = None, workers: int | None = None, strict: bool = False,
    progress: Progress | None = None, calibrate_with: Path | None = None,
) -> tuple[list[dict], Skipped]:
    """The final model on every readable row (derivation and train-only cohorts), saved to ``out``. With
    ``calibrate_with`` (a ``cv`` run folder of the same config), a temperature is fitted on that run's
    cross-validated predictions and stored with the model, so its scores mean what they say."""
    temperature = _temperature(calibrate_with, cfg) if calibrate_with is not None else None
    _load_weights_once(cfg, weights)
    with distributed.main_first():
        segs = load_segments(manifest, cache_root or out / "cache", cfg, workers, strict, progress)
    model, source = _new_model(cfg, weights, cfg.train.seed)
    log = out / "train.jsonl"
    if distributed.is_main():
        out.mkdir(parents=True, exist_ok=True)
        log.unlink(missing_ok=True)
    idx = np.arange(len(segs.rows))
    records = fit(model, segs.loader(idx), segs.rows["label"].to_numpy(), cfg.train, log=log, progress=progress, stage="train final model")
    if not distributed.is_main():
        return records, segs.skipped
    calibrated = {} if temperature is None else {"temperature": temperature, "temperature_from": str(calibrate_with)}
    save_model(out, model, cfg, {"weights": source, "data_fingerprint": segs.fingerprint(), "manifest": str(manifest.path),
                                 "n_segments": len(idx), "n_children": int(segs.rows["child"].nunique()), **calibrated})  # fmt: skip
    return records, segs.skipped


def _temperature(run: Path, cfg: RunConfig) -> float:
    """The temperature fitted on the cross-validated predictions of the ``cv`` run folder ``run``, which must have
    been made with the config ``cfg``: a temperature fits the recipe whose scores it was fitted on."""
    check_cv_run(run, cfg)
    table = pd.read_csv(run / PREDICTIONS_FILE)
    return fit_temperature(table["score"].to_numpy(), table["label"].to_numpy())


def evaluate(
    model_dir: Path, manifest: Manifest, out: Path, threshold: float | None = None, cache_root: Path | None = None, workers: int | None = None, strict: bool = False,
    table1: bool = True,
    progress: Progress | None = None,
) -> RunResult:
    """Score an external cohort with a trained model at its fixed threshold (``threshold`` overrides it); writes
    predictions, metrics, with ``table1`` Table 1 and the factor analysis, and the report."""
    if threshold is not None:
        check_threshold(threshold)
    model, cfg, meta = load_model(model_dir)
    segs = load_segments(manifest, cache_root or out / "cache", cfg, workers, strict, progress)
    scores = predict(model, segs.loader(np.arange(len(segs.rows))), len(segs.rows), flips=cfg.train.test_flips, progress=progress,
                     temperature=meta.get("temperature", 1.0))  # fmt: skip
    predictions = output_columns(segs.rows).assign(fold=0, score=scores)
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_json(out / RUN_FILE, {"spasmscope": __version__, "command": "evaluate", "model": str(model_dir), "model_config": meta,
                                       "data_fingerprint": segs.fingerprint(), "manifest": str(manifest.path)})  # fmt: skip
    atomic.write_csv(out / PREDICTIONS_FILE, predictions)
    threshold = cfg.train.threshold if threshold is None else threshold
    metrics = summarise(predictions, threshold, seed=cfg.train.seed)
    atomic.write_json(out / METRICS_FILE, metrics)
    return _finish(manifest, out, predictions, metrics, segs, f"External evaluation: {manifest.path.name}", table1, workers, progress)


def _finish(manifest: Manifest, out: Path, predictions: pd.DataFrame, metrics: dict, segs: Segments, title: str, table1: bool,
            workers: int | None, progress: Progress | None) -> RunResult:  # fmt: skip
    """Table 1 and the factor analysis (with ``table1``), then the report, of a run whose predictions and metrics
    are written from ``segs``."""
    if table1:
        write_table1(manifest, out, metrics["threshold"], workers, progress, cache=segs.cache)
    return RunResult(predictions, metrics, segs.skipped, write_report(out, title))

