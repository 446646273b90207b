"""Video quality against false alarms (METHOD §7, the paper's factor analysis): is resolution distributed
differently between cohorts, do false-positive segments differ from true negatives in sharpness, bitrate or
infant visibility, and what are the false-alarm rate and the AUC without night recordings.

Pure functions on the run's tables; the tests are SciPy's (``chi2_contingency``, two-sided ``mannwhitneyu``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, mannwhitneyu

from spasmscope.study.metrics import seizure_free, segment_metrics

RESOLUTION_CLASSES = ("<480p", "480-719p", ">=720p")  # by the short side of the upright frame
QUALITY_COLUMNS = ("sharpness", "bitrate", "visibility")


def resolution_class(width: pd.Series, height: pd.Series) -> pd.Series:
    """Each video's resolution class from its upright size."""
    short = np.minimum(np.asarray(width, dtype=float), np.asarray(height, dtype=float))
    return pd.Series(np.select([short < 480, short < 720], RESOLUTION_CLASSES[:2], RESOLUTION_CLASSES[2]), index=getattr(width, "index", None))


def resolution_by_cohort(videos: pd.DataFrame) -> dict:
    """Chi-squared test of resolution class against cohort over ``videos`` (one row per video: ``cohort``,
    ``width``, ``height``). Classes or cohorts without videos are left out; fewer than 2 of either: no test."""
    counts = pd.crosstab(videos["cohort"], resolution_class(videos["width"], videos["height"]))
    counts = counts.loc[counts.sum(axis=1) > 0, counts.sum(axis=0) > 0]
    out = {"counts": {str(c): {str(k): int(v) for k, v in row.items()} for c, row in counts.iterrows()}}
    if counts.shape[0] < 2 or counts.shape[1] < 2:
        return {**out, "chi2": None, "p": None, "dof": None}
    chi2, p, dof, _ = chi2_contingency(counts.to_numpy())
    return {**out, "chi2": float(chi2), "p": float(p), "dof": int(dof)}


def false_positive_vs_true_negative(segments: pd.DataFrame, threshold: float, column: str) -> dict:
    """Two-sided Mann-Whitney U test of ``column`` between false-positive and true-negative segments (label 0,
    score at or above / below ``threshold``); medians and counts come along. Fewer than one of each: no test."""
    neg = segments[(segments["label"] == 0) & segments[column].notna()]
    fp = neg.loc[neg["score"] >= threshold, column].astype(float)
    tn = neg.loc[neg["score"] < threshold, column].astype(float)
    out = {"n_fp": len(fp), "n_tn": len(tn), "median_fp": float(fp.median()) if len(fp) else None, "median_tn": float(tn.median()) if len(tn) else None}
    if len(fp) == 0 or len(tn) == 0:
        return {**out, "u": None, "p": None}
    result = mannwhitneyu(fp, tn, alternative="two-sided")
    return {**out, "u": float(result.statistic), "p": float(result.pvalue)}


def far_with_and_without_night(segments: pd.DataFrame, threshold: float) -> dict:
    """False-alarm rate (share of seizure-free children's segments scored positive) over all of them and over
    those not recorded at night (``night`` = 0), with the counts."""
    free = segments[seizure_free(segments)]
    day = free[free["night"] == 0]

    def rate(t: pd.DataFrame) -> dict:
        positive = int((t["score"] >= threshold).sum())
        return {"far": positive / len(t) if len(t) else None, "false_alarms": positive, "segments": len(t)}

    return {"all": rate(free), "without_night": rate(day)}


def auc_by_light(segments: pd.DataFrame) -> dict:
    """Pooled AUC over all ``segments`` (``label``, ``score``), over those not recorded at night (``night`` = 0)
    and over those at night (``night`` = 1), with their counts; None where a share lacks spasm or spasm-free
    segments. Infrared night pictures are grey and dim, so a detector may rank them worse than day ones."""

    def auc(t: pd.DataFrame) -> dict:
        value = segment_metrics(t["label"], t["score"], 0.5)["auc"]  # the AUC needs no threshold
        return {"auc": None if np.isnan(value) else value, "segments": len(t), "spasm_segments": int(t["label"].sum())}

    return {"all": auc(segments), "day": auc(segments[segments["night"] == 0]), "night": auc(segments[segments["night"] == 1])}


def factor_analysis(predictions: pd.DataFrame, characteristics: pd.DataFrame, threshold: float) -> dict:
    """All four analyses for a run: ``predictions`` (manifest columns, ``score``) joined on video and segment
    to the ``characteristics`` table of ``spasmscope probe`` (video rows and segment rows)."""
    videos = characteristics[characteristics["level"] == "video"]
    seg = characteristics[characteristics["level"] == "segment"]
    keep = ["video", "start", *[c for c in ("night", "sharpness", "bitrate", "visibility") if c in seg.columns]]
    merged = predictions.drop(columns=[c for c in keep[2:] if c in predictions.columns]).merge(seg[keep], on=["video", "start"], how="left")
    return {
        "resolution_by_cohort": resolution_by_cohort(videos) if "cohort" in videos.columns else None,
        "fp_vs_tn": {c: false_positive_vs_true_negative(merged, threshold, c) for c in QUALITY_COLUMNS if c in merged.columns},
        "far_night": far_with_and_without_night(merged, threshold) if "night" in merged.columns else None,
        "auc_night": auc_by_light(merged) if "night" in merged.columns else None,
    }
