"""Segment-level metrics against scikit-learn and direct computation; folds; bootstrap intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, recall_score, roc_auc_score

from spasmscope.study.folds import TRAIN_ONLY, assign_folds, fold_rows
from spasmscope.study.metrics import mean_ci, per_child, pooled, summarise


def _table(seed: int = 0) -> pd.DataFrame:
    """Children of three kinds: with both classes, spasm-only, and seizure-free; scores loosely follow labels."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(12):
        n = int(rng.integers(3, 12))
        if c < 6:
            labels = rng.integers(0, 2, n)
            labels[0], labels[1] = 0, 1
        elif c < 8:
            labels = np.ones(n, int)
        else:
            labels = np.zeros(n, int)
        scores = np.clip(0.35 * labels + rng.uniform(0, 0.7, n), 0, 1)
        rows += [{"child": f"c{c:02d}", "label": int(y), "score": float(s)} for y, s in zip(labels, scores, strict=True)]
    return pd.DataFrame(rows)


def test_pooled_metrics_equal_scikit_learn():
    t = _table()
    m = pooled(t, 0.5)
    y, pred = t["label"], (t["score"] >= 0.5).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred).ravel()
    assert m["auc"] == pytest.approx(roc_auc_score(y, t["score"]), abs=1e-12)
    assert m["sensitivity"] == pytest.approx(recall_score(y, pred), abs=1e-12)
    assert m["specificity"] == pytest.approx(recall_score(y, pred, pos_label=0), abs=1e-12)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-12)
    assert (m["true_positive"], m["false_positive"]) == (tp, fp)
    free = t[t["child"].isin([f"c{c:02d}" for c in range(8, 12)])]
    assert m["far"] == pytest.approx((free["score"] >= 0.5).mean(), abs=1e-12)
    assert m["n_false_alarms"] == int((free["score"] >= 0.5).sum()) and m["n_seizure_free_segments"] == len(free)


def test_per_child_metrics_and_single_class_children():
    t = _table(1)
    pc = per_child(t, 0.5).set_index("child")
    for child, g in t.groupby("child"):
        pred = g["score"] >= 0.5
        row = pc.loc[child]
        assert row["n"] == len(g) and row["accuracy"] == pytest.approx((pred == (g["label"] == 1)).mean())
        if g["label"].nunique() == 2:
            assert row["auc"] == pytest.approx(roc_auc_score(g["label"], g["score"]))
        else:
            assert math.isnan(row["auc"])  # one class: no AUC, and not a zero
        if (g["label"] == 1).any():
            assert row["sensitivity"] == pytest.approx(pred[g["label"] == 1].mean()) and math.isnan(row["far"])
        else:
            assert math.isnan(row["sensitivity"]) and row["far"] == pytest.approx(pred.mean()) == pytest.approx(1 - row["specificity"])


def test_summary_means_equal_a_direct_computation_and_json_has_no_nan():
    t = _table(2)
    s = summarise(t, 0.5, seed=3)
    for metric in ("auc", "sensitivity", "specificity", "accuracy", "far"):
        direct = []
        for _, g in t.groupby("child"):
            y, pred = g["label"].to_numpy(), g["score"].to_numpy() >= 0.5
            if metric == "auc" and len(set(y)) == 2:
                direct.append(roc_auc_score(y, g["score"]))
            elif metric == "sensitivity" and (y == 1).any():
                direct.append(pred[y == 1].mean())
            elif metric == "specificity" and (y == 0).any():
                direct.append((~pred[y == 0]).mean())
            elif metric == "accuracy":
                direct.append((pred == (y == 1)).mean())
            elif metric == "far" and not (y == 1).any():
                direct.append(pred.mean())
        entry = s["per_child"][metric]
        assert entry["n"] == len(direct) and entry["mean"] == pytest.approx(np.mean(direct), abs=1e-12)
        assert entry["ci_low"] <= entry["mean"] <= entry["ci_high"]
    assert s["n_children"] == 12 and s["n_segments"] == len(t)
    assert None in [c["auc"] for c in s["children"]]  # NaN written as null


def test_bootstrap_interval_is_seeded_and_handles_small_samples():
    v = np.append(np.random.default_rng(0).uniform(0.2, 0.9, 40), np.nan)
    a, b, c = mean_ci(v, seed=1), mean_ci(v, seed=1), mean_ci(v, seed=2)
    assert a == b and a != c and a["n"] == 40
    # Resampling children: the interval is about the mean's standard error wide on each side (x 1.96).
    se = np.nanstd(v, ddof=1) / np.sqrt(40)
    assert a["ci_low"] < a["mean"] < a["ci_high"]
    assert a["ci_high"] - a["ci_low"] == pytest.approx(2 * 1.96 * se, rel=0.2)
    one = mean_ci(np.array([0.8]), seed=0)
    assert one["mean"] == 0.8 and math.isnan(one["ci_low"]) and one["n"] == 1
    same = mean_ci(np.array([1.0, 1.0, 1.0]), seed=0)
    assert same["ci_low"] == same["ci_high"] == 1.0
    assert mean_ci(np.array([np.nan]), seed=0)["n"] == 0


def test_folds_keep_children_whole_balance_spasm_children_and_keep_train_only_out():
    rng = np.random.default_rng(0)
    rows = []
    for c in range(23):
        cohort = "healthy" if c >= 17 else "derivation"
        spasm = c < 13
        for _ in range(int(rng.integers(2, 6))):
            rows.append({"child": f"k{c}", "cohort": cohort, "label": int(spasm and rng.uniform() < 0.6)})
    df = pd.DataFrame(rows)
    df.loc[df.groupby("child").head(1).index[:13], "label"] = 1  # every spasm child has a spasm segment
    folds = assign_folds(df, 5, ("healthy",), seed=4)
    assert (folds[df["cohort"] == "healthy"] == TRAIN_ONLY).all()
    per_child = folds.groupby(df["child"]).nunique()
    assert (per_child == 1).all()  # no child in two folds
    has_spasm = df.groupby("child")["label"].max()
    fold_of = folds.groupby(df["child"]).first()
    spasm_counts = fold_of[(has_spasm == 1) & (fold_of >= 0)].value_counts()
    assert sorted(spasm_counts.index) == [0, 1, 2, 3, 4] and spasm_counts.max() - spasm_counts.min() <= 1
    assert fold_of[fold_of >= 0].value_counts().max() - fold_of[fold_of >= 0].value_counts().min() <= 1
    for k in range(5):
        train, test = fold_rows(folds, k)
        assert not set(train) & set(test) and len(train) + len(test) == len(df)
        assert (df.iloc[test]["cohort"] == "derivation").all() and (df.iloc[train]["cohort"] == "healthy").sum() == (df["cohort"] == "healthy").sum()
    assert assign_folds(df, 5, ("healthy",), seed=4).equals(folds)
    with pytest.raises(ValueError, match="13 children with spasms"):
        assign_folds(df, 14, ("healthy",), seed=0)


def test_calibration_against_scikit_learn_and_its_definition():
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss

    from spasmscope.study.metrics import calibration

    rng = np.random.default_rng(3)
    p = rng.beta(0.6, 0.6, 500)
    y = (rng.random(500) < p**1.5).astype(int)  # too sure of itself at the top: miscalibrated on purpose
    c = calibration(y, p, bins=10)
    assert c["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="uniform")
    assert [b["fraction_spasm"] for b in c["curve"]] == pytest.approx(observed, abs=1e-12)
    assert [b["mean_score"] for b in c["curve"]] == pytest.approx(predicted, abs=1e-12)
    # The ECE, directly: each segment's bin, then the weighted gap between mean probability and observed share.
    bins = np.clip(np.floor(p * 10), 0, 9)
    ece = sum((bins == b).mean() * abs(p[bins == b].mean() - y[bins == b].mean()) for b in np.unique(bins))
    assert c["ece"] == pytest.approx(ece, abs=1e-12) and c["ece"] > 0.03
    perfect = calibration(np.array([0, 0, 1, 1]), np.array([0.0, 0.0, 1.0, 1.0]))
    assert perfect["brier"] == 0 and perfect["ece"] == 0
    assert "calibration" in summarise(_table(), 0.5)


def test_a_fitted_temperature_undoes_a_known_overconfidence():
    from scipy.special import expit

    from spasmscope.model.scores import fit_temperature, temper

    rng = np.random.default_rng(4)
    z = rng.normal(0, 2, 4000)
    y = (rng.random(4000) < expit(z)).astype(int)  # calibrated at temperature 1
    overconfident = expit(3 * z)
    t = fit_temperature(overconfident, y)
    assert t == pytest.approx(3, rel=0.1)
    inside = np.abs(3 * z) < 13  # probabilities closer to 0 or 1 than 1e-6 are held there before their logit is taken
    assert temper(overconfident, t)[inside] == pytest.approx(expit(3 * z / t)[inside], abs=1e-6)
    assert np.array_equal(temper(overconfident, 1.0), overconfident)
    assert fit_temperature(overconfident, np.zeros(4000)) == 1.0


def test_spasm_against_mimics_is_the_auc_of_spasm_segments_against_each_kind_and_all():
    from spasmscope.study.metrics import spasm_against_mimics

    table = pd.DataFrame({"label": [1, 1, 1, 0, 0, 0, 0, 0], "mimic": ["", "", "", "stretch", "hiccups", "stretch", "", None],
                          "score": [0.9, 0.4, 0.7, 0.5, 0.2, 0.95, 0.1, 0.3]})  # fmt: skip
    s = spasm_against_mimics(table)
    spasm = [0.9, 0.4, 0.7]
    assert s["auc"] == pytest.approx(roc_auc_score([1, 1, 1, 0, 0, 0], [*spasm, 0.5, 0.2, 0.95])) and s["n_mimic"] == 3 and s["n_spasm"] == 3
    assert s["by_kind"]["stretch"] == {"auc": pytest.approx(roc_auc_score([1, 1, 1, 0, 0], [*spasm, 0.5, 0.95])), "n_mimic": 2}
    assert s["by_kind"]["hiccups"]["auc"] == pytest.approx(1.0) and set(s["by_kind"]) == {"stretch", "hiccups"}
    assert summarise(table.assign(child=list("aabbccdd")), 0.5)["spasm_vs_mimic"] == s
    assert spasm_against_mimics(table.assign(mimic=""))["auc"] is None


def test_spasm_against_movements_counts_a_segment_under_every_kind_it_overlaps():
    from spasmscope.data.movements import spasm_against_movements

    table = pd.DataFrame({"video": ["a"] * 5 + ["b"] * 3, "start": [0, 5, 10, 15, 20, 0, 5, 10], "end": [5, 10, 15, 20, 25, 5, 10, 15],
                          "label": [1, 0, 0, 0, 1, 0, 1, 0], "score": [0.9, 0.95, 0.2, 0.6, 0.7, 0.3, 0.8, 0.1]})  # fmt: skip
    movements = pd.DataFrame({"video": ["a", "a", "a", "b", "b"], "kind": ["turn", "kick", "turn", "kick", "startle"],
                              "onset": [6.0, 9.0, 16.0, 14.9, 3.0], "offset": [7.0, 11.0, 17.0, 15.0, 4.0]})  # fmt: skip
    s = spasm_against_movements(table, movements, threshold=0.5)
    spasm = [0.9, 0.7, 0.8]
    # a 5-10 holds a turn and a kick, a 10-15 the kick's end; b 10-15's kick ends at 15.0, inside it; b 0-5 a startle.
    assert s["n_spasm"] == 3 and set(s["by_kind"]) == {"turn", "kick", "startle", "none"}
    assert s["by_kind"]["turn"] == {"n": 2, "at_threshold": 2, "auc": pytest.approx(roc_auc_score([1, 1, 1, 0, 0], [*spasm, 0.95, 0.6]))}
    assert s["by_kind"]["kick"] == {"n": 3, "at_threshold": 1, "auc": pytest.approx(roc_auc_score([1, 1, 1, 0, 0, 0], [*spasm, 0.95, 0.2, 0.1]))}
    assert s["by_kind"]["startle"]["n"] == 1 and s["by_kind"]["none"]["n"] == 0
    assert spasm_against_movements(table.assign(label=0), movements, 0.5)["by_kind"]["turn"]["auc"] is None


def test_spasm_against_startle_is_the_auc_of_spasm_segments_against_startled_ones():
    from spasmscope.study.metrics import spasm_against_startle

    table = pd.DataFrame({"label": [1, 1, 1, 0, 0, 0, 0], "startle": [0, 0, 0, 1, 1, 0, 0], "score": [0.9, 0.4, 0.7, 0.5, 0.2, 0.95, 0.1]})
    s = spasm_against_startle(table)
    assert s == {"auc": pytest.approx(roc_auc_score([1, 1, 1, 0, 0], [0.9, 0.4, 0.7, 0.5, 0.2])), "n_spasm": 3, "n_startle": 2}
    assert "spasm_vs_startle" in summarise(table.assign(child=["a", "a", "b", "b", "c", "c", "c"]), 0.5)
    assert "spasm_vs_startle" not in summarise(_table(), 0.5)
    assert spasm_against_startle(table.assign(startle=0))["auc"] is None
    assert spasm_against_startle(table.assign(startle=table["startle"].astype(str)))["auc"] == s["auc"]  # as a manifest reads it
