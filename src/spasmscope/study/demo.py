"""``spasmscope demo``: the study on synthetic cohorts drawn on the spot, with every setting the library's own.

A derivation cohort (children with spasms, and healthy infants who train only) is cross-validated at child
level; the final model is trained on all of it and scored on an external cohort of other children, with more
night and wide-view recordings and seizure-free children who are tested, so its report has a false-alarm rate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from spasmscope.data.manifest import read_manifest
from spasmscope.model.config import RunConfig, load_config
from spasmscope.model.weights import resolve_weights
from spasmscope.progress import Progress
from spasmscope.study.folds import FOLDS, check_fold_count
from spasmscope.study.validate import RunResult, cross_validate, evaluate, train_final
from spasmscope.synth import SynthConfig, generate


@dataclass(frozen=True)
class DemoResult:
    cv: RunResult  # the derivation cohort's cross-validation
    external: RunResult  # the final model on the external cohort


def external_cohort(derivation: SynthConfig) -> SynthConfig:
    """Other children than ``derivation``'s (another seed and id prefix), a third as many, with more night and
    wide-view recordings, and seizure-free children in a cohort of their own that is tested."""
    return replace(derivation, children=max(4, derivation.children // 3), healthy=max(2, derivation.healthy // 3), seed=derivation.seed + 500,
                   cohort="external", healthy_cohort="external-healthy", id_prefix="x", wide_fraction=0.3, night_fraction=0.25)  # fmt: skip


def run_demo(out: Path, derivation: SynthConfig = SynthConfig(), cfg: RunConfig | None = None, progress: Progress | None = None) -> DemoResult:
    """Draw both cohorts under ``out``, cross-validate ``cfg`` (None: the ``cpu`` preset) from the shipped backbone
    (``out/cv``, ``FOLDS`` folds), train the final model (``out/model``) and evaluate it on the external cohort (``out/external-eval``)."""
    check_fold_count(FOLDS, derivation.children)  # before minutes of drawing
    cfg = load_config("cpu") if cfg is None else cfg
    weights = resolve_weights(None, cfg)
    cache = out / "cache"
    manifest = generate(derivation, out / "cohort", progress=progress)
    external = generate(external_cohort(derivation), out / "external", progress=progress)
    derivation_rows = read_manifest(manifest, require_labels=True)
    cv = cross_validate(derivation_rows, out / "cv", cfg, FOLDS, weights=weights, cache_root=cache, progress=progress)
    train_final(derivation_rows, out / "model", cfg, weights, cache_root=cache, progress=progress)
    evaluated = evaluate(out / "model", read_manifest(external, require_labels=True), out / "external-eval", cache_root=cache, progress=progress)
    return DemoResult(cv, evaluated)
