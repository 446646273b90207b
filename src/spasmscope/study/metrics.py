"""Segment-level metrics of the paper (METHOD §6): pooled over segments, and per child with a bootstrap CI.

Pure functions of labels and scores. A child with one class has no AUC and no metric of the missing class
(NaN, shown grey in the report), as in the paper; FAR is defined on seizure-free children only.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import bootstrap
from sklearn.metrics import roc_auc_score

METRICS = ("auc", "sensitivity", "specificity", "accuracy", "far")
BOOTSTRAP_RESAMPLES = 2000
CALIBRATION_BINS = 10  # equal-width bins of the predicted probability for the reliability curve and the ECE


def segment_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """AUC, sensitivity, specificity and accuracy of ``[n]`` 0/1 labels against ``[n]`` probabilities; a metric
    that needs a class the labels lack is NaN."""
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=float)
    pred = s >= threshold
    pos, neg = y == 1, y == 0
    nan = float("nan")
    return {
        "auc": float(roc_auc_score(y, s)) if pos.any() and neg.any() else nan,
        "sensitivity": float(pred[pos].mean()) if pos.any() else nan,
        "specificity": float((~pred[neg]).mean()) if neg.any() else nan,
        "accuracy": float((pred == pos).mean()) if len(y) else nan,
    }


def seizure_free(table: pd.DataFrame) -> pd.Series:
    """Per row: is its child seizure-free (no segment labelled 1 in ``table``)?"""
    return table.groupby("child")["label"].transform("max").eq(0)


def pooled(table: pd.DataFrame, threshold: float) -> dict[str, float]:
    """Metrics over all segments of ``table`` (columns ``child``, ``label``, ``score``). FAR is the share of the
    seizure-free children's segments scored positive (paper: 5/666 = 0.75%); counts come along."""
    out = segment_metrics(table["label"], table["score"], threshold)
    free = table[seizure_free(table)]
    false_alarms = int((free["score"] >= threshold).sum())
    out["far"] = false_alarms / len(free) if len(free) else float("nan")
    out.update(
        n_segments=len(table), n_positive=int(table["label"].sum()), n_seizure_free_segments=len(free), n_false_alarms=false_alarms,
        true_positive=int(((table["score"] >= threshold) & (table["label"] == 1)).sum()),
        false_positive=int(((table["score"] >= threshold) & (table["label"] == 0)).sum()),
    )  # fmt: skip
    return out


def per_child(table: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """One row per child: ``n``, ``n_positive`` and each of ``METRICS`` (NaN where undefined; ``far`` only for
    seizure-free children, where it equals 1 - specificity)."""
    rows = []
    for child, g in table.groupby("child", sort=True):
        m = segment_metrics(g["label"], g["score"], threshold)
        free = g["label"].max() == 0
        m["far"] = float((g["score"] >= threshold).mean()) if free else float("nan")
        rows.append({"child": child, "n": len(g), "n_positive": int(g["label"].sum()), **m})
    return pd.DataFrame(rows)


def mean_ci(values: np.ndarray, seed: int, level: float = 0.95) -> dict[str, float]:
    """Mean over children and its percentile bootstrap CI (resampling children, seeded), NaNs left out.

    Fewer than two values give a NaN interval; identical values give the value as both bounds.
    """
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    nan = float("nan")
    if len(v) == 0:
        return {"mean": nan, "ci_low": nan, "ci_high": nan, "n": 0}
    mean = float(v.mean())
    if len(v) < 2:
        return {"mean": mean, "ci_low": nan, "ci_high": nan, "n": 1}
    if np.all(v == v[0]):  # SciPy warns on degenerate data; the interval is the point
        return {"mean": mean, "ci_low": mean, "ci_high": mean, "n": len(v)}
    res = bootstrap((v,), np.mean, n_resamples=BOOTSTRAP_RESAMPLES, confidence_level=level, method="percentile", rng=np.random.default_rng(seed))
    return {"mean": mean, "ci_low": float(res.confidence_interval.low), "ci_high": float(res.confidence_interval.high), "n": len(v)}


def calibration(labels: np.ndarray, scores: np.ndarray, bins: int = CALIBRATION_BINS) -> dict:
    """Do the scores mean what they say? ``[n]`` 0/1 labels against ``[n]`` probabilities: the Brier score (mean
    squared difference), the expected calibration error (over ``bins`` equal-width bins of the probability, the
    bins' share of segments times the gap between their mean probability and their share of spasm segments), and
    the reliability curve, one point per bin that holds segments."""
    y = np.asarray(labels, dtype=float)
    p = np.asarray(scores, dtype=float)
    if len(y) == 0:
        return {"brier": None, "ece": None, "bins": bins, "curve": []}
    which = np.minimum((p * bins).astype(int), bins - 1)  # [0, 1/bins), ..., [1 - 1/bins, 1]
    curve, ece = [], 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            mean_p, observed = float(p[inside].mean()), float(y[inside].mean())
            ece += inside.mean() * abs(mean_p - observed)
            curve.append({"low": b / bins, "high": (b + 1) / bins, "n": int(inside.sum()), "mean_score": mean_p, "fraction_spasm": observed})
    return {"brier": float(np.mean((p - y) ** 2)), "ece": float(ece), "bins": bins, "curve": curve}


def spasm_against_startle(table: pd.DataFrame) -> dict:
    """Can the scores tell a spasm from the startle reflex? The AUC of spasm segments (``label`` 1) against
    segments holding a startle (a ``startle`` column of 1, as ``synth --startle-rate`` writes), with their counts;
    None where either kind is missing."""
    marked = pd.to_numeric(table["startle"], errors="coerce") == 1  # manifest columns are read as text
    spasm, startled = table["score"][table["label"] == 1], table["score"][(table["label"] == 0) & marked]
    auc = roc_auc_score([1] * len(spasm) + [0] * len(startled), [*spasm, *startled]) if len(spasm) and len(startled) else None
    return {"auc": None if auc is None else float(auc), "n_spasm": len(spasm), "n_startle": len(startled)}


def spasm_against_mimics(table: pd.DataFrame) -> dict:
    """Can the scores tell a spasm from the other hard negatives? The AUC of spasm segments against segments holding
    a mimic (a ``mimic`` column naming its kind, as ``synth --mimic-rate`` writes; empty otherwise), all kinds
    together and each kind on its own, with counts; None where either side is missing."""
    kind = table["mimic"].fillna("").astype(str).str.strip()
    spasm = table["score"][table["label"] == 1]

    def against(marked: pd.Series) -> dict:
        other = table["score"][(table["label"] == 0) & marked]
        auc = roc_auc_score([1] * len(spasm) + [0] * len(other), [*spasm, *other]) if len(spasm) and len(other) else None
        return {"auc": None if auc is None else float(auc), "n_mimic": len(other)}

    kinds = sorted(k for k in kind.unique() if k)
    return {**against(kind != ""), "n_spasm": len(spasm), "by_kind": {k: against(kind == k) for k in kinds}}


def summarise(table: pd.DataFrame, threshold: float, seed: int = 0) -> dict:
    """``metrics.json`` (METHOD §9): pooled metrics, per-child means with CIs, calibration, counts, the per-child
    rows, and, for a cohort that marks startles or other mimics, spasm against them."""
    children = per_child(table, threshold)
    startle = {"spasm_vs_startle": spasm_against_startle(table)} if "startle" in table.columns else {}
    if "mimic" in table.columns:
        startle["spasm_vs_mimic"] = spasm_against_mimics(table)
    return {
        "threshold": threshold,
        "n_segments": len(table),
        "n_children": int(table["child"].nunique()),
        "pooled": _clean(pooled(table, threshold)),
        "per_child": {m: _clean(mean_ci(children[m].to_numpy(), seed)) for m in METRICS},
        "calibration": calibration(table["label"].to_numpy(), table["score"].to_numpy()),
        "children": [_clean(r) for r in children.to_dict("records")],
        **startle,
    }


def _clean(d: dict) -> dict:
    """JSON has no NaN: undefined metrics are written as null."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}
