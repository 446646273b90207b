"""The factor analysis (METHOD §7) against SciPy on the same data, and the night FAR by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from spasmscope.study.factors import auc_by_light, factor_analysis, false_positive_vs_true_negative, far_with_and_without_night, resolution_by_cohort, resolution_class


def test_resolution_classes_by_the_short_side():
    got = resolution_class(pd.Series([426, 640, 360, 1280, 1080, 854]), pd.Series([240, 480, 640, 720, 1920, 479]))
    assert got.tolist() == ["<480p", "480-719p", "<480p", ">=720p", ">=720p", "<480p"]


def test_chi_squared_of_resolution_by_cohort_equals_scipy():
    rng = np.random.default_rng(0)
    sizes = [(426, 240), (854, 480), (1280, 720)]
    rows = [{"cohort": c, "width": sizes[k][0], "height": sizes[k][1]} for c, p in (("phone", [0.2, 0.3, 0.5]), ("veeg", [0.6, 0.3, 0.1])) for k in rng.choice(3, 40, p=p)]
    videos = pd.DataFrame(rows)
    got = resolution_by_cohort(videos)
    counts = np.array([[sum(1 for r in rows if r["cohort"] == c and r["height"] == h) for h in (240, 480, 720)] for c in ("phone", "veeg")])
    chi2, p, dof, _ = stats.chi2_contingency(counts)
    assert got["chi2"] == pytest.approx(chi2) and got["p"] == pytest.approx(p) and got["dof"] == dof
    assert got["counts"]["phone"]["<480p"] == counts[0, 0]
    one = resolution_by_cohort(videos[videos["cohort"] == "phone"])
    assert one["chi2"] is None  # one cohort: nothing to compare


def test_mann_whitney_of_false_positives_against_true_negatives_equals_scipy():
    rng = np.random.default_rng(1)
    n = 60
    seg = pd.DataFrame({"label": rng.integers(0, 2, n), "score": rng.uniform(0, 1, n), "sharpness": rng.gamma(2, 50, n)})
    got = false_positive_vs_true_negative(seg, 0.5, "sharpness")
    neg = seg[seg["label"] == 0]
    fp, tn = neg[neg["score"] >= 0.5]["sharpness"], neg[neg["score"] < 0.5]["sharpness"]
    ref = stats.mannwhitneyu(fp, tn, alternative="two-sided")
    assert got["u"] == pytest.approx(ref.statistic) and got["p"] == pytest.approx(ref.pvalue)
    assert (got["n_fp"], got["n_tn"]) == (len(fp), len(tn)) and got["median_fp"] == pytest.approx(fp.median())
    none = false_positive_vs_true_negative(seg.assign(score=0.1), 0.5, "sharpness")
    assert none["u"] is None and none["n_fp"] == 0


def test_far_with_and_without_night_by_hand():
    seg = pd.DataFrame({
        "child": ["a", "a", "a", "b", "b", "c", "c"],
        "label": [0, 0, 0, 0, 0, 1, 0],  # c has a spasm: not seizure-free
        "score": [0.9, 0.2, 0.7, 0.1, 0.6, 0.9, 0.8],
        "night": [1, 0, 1, 0, 0, 0, 1],
    })  # fmt: skip
    got = far_with_and_without_night(seg, 0.5)
    assert got["all"] == {"far": 3 / 5, "false_alarms": 3, "segments": 5}
    assert got["without_night"] == {"far": 1 / 3, "false_alarms": 1, "segments": 3}


def test_auc_by_light_equals_scikit_learn_on_each_share():
    rng = np.random.default_rng(3)
    n = 80
    seg = pd.DataFrame({"label": rng.integers(0, 2, n), "night": rng.integers(0, 2, n)})
    seg["score"] = np.clip(0.3 * seg["label"] + rng.uniform(0, 0.7, n) - 0.2 * seg["night"] * seg["label"], 0, 1)
    got = auc_by_light(seg)
    for key, share in (("all", seg), ("day", seg[seg["night"] == 0]), ("night", seg[seg["night"] == 1])):
        assert got[key]["auc"] == pytest.approx(roc_auc_score(share["label"], share["score"]))
        assert (got[key]["segments"], got[key]["spasm_segments"]) == (len(share), int(share["label"].sum()))
    assert got["day"]["auc"] > got["night"]["auc"]  # the night spasms were scored lower
    one_class_at_night = seg.assign(label=np.where(seg["night"] == 1, 0, seg["label"]))
    assert auc_by_light(one_class_at_night)["night"] == {"auc": None, "segments": int((seg["night"] == 1).sum()), "spasm_segments": 0}


def test_factor_analysis_joins_predictions_to_segment_characteristics():
    predictions = pd.DataFrame({"video": ["v1.mp4", "v1.mp4", "v2.mp4"], "start": [0.0, 5.0, 0.0], "child": ["a", "a", "b"], "label": [0, 0, 0], "score": [0.8, 0.1, 0.3], "cohort": "x"})
    characteristics = pd.DataFrame({
        "level": ["video", "video", "segment", "segment", "segment"], "video": ["v1.mp4", "v2.mp4", "v1.mp4", "v1.mp4", "v2.mp4"],
        "start": [np.nan, np.nan, 0.0, 5.0, 0.0], "cohort": ["x", "y", "x", "x", "y"], "width": [640, 1280, 640, 640, 1280],
        "height": [360, 720, 360, 360, 720], "night": [0, 0, 1, 0, 0], "sharpness": [1, 1, 10.0, 20.0, 30.0],
        "bitrate": [5e5, 1e6, 5e5, 5e5, 1e6], "visibility": [np.nan, np.nan, 0.9, 0.8, 0.7],
    })  # fmt: skip
    f = factor_analysis(predictions, characteristics, 0.5)
    assert f["fp_vs_tn"]["sharpness"]["median_fp"] == 10.0 and f["fp_vs_tn"]["sharpness"]["median_tn"] == 25.0
    assert f["far_night"]["all"]["false_alarms"] == 1 and f["far_night"]["without_night"]["false_alarms"] == 0
    assert f["auc_night"]["night"] == {"auc": None, "segments": 1, "spasm_segments": 0}  # all three are spasm-free
    assert f["resolution_by_cohort"]["counts"] == {"x": {"<480p": 1, ">=720p": 0}, "y": {"<480p": 0, ">=720p": 1}}
