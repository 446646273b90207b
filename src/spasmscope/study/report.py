"""The validation report (METHOD §9): one self-contained HTML page built only from a run's files.

Figures follow the paper: per-child metrics (Fig. 2A/3A), overall metrics with 95% CIs (2B), every segment's
score against the threshold (2C), false-alarm rate per seizure-free child (Fig. 4), and a ROC curve; then
Table 1 and the factor analysis of video quality against false alarms (METHOD §7). Each figure is also
written as a PNG under ``figures/`` for papers and slides.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from spasmscope import atomic
from spasmscope.data.characteristics import format_table1
from spasmscope.figures import GREY, NONE, SPASM, img, page, png
from spasmscope.study.metrics import METRICS
from spasmscope.study.runs import FACTORS_FILE, METRICS_FILE, PREDICTIONS_FILE, REPORT_FILE, RUN_FILE, TABLE1_FILE

LABELS = {"auc": "AUC", "sensitivity": "Sensitivity", "specificity": "Specificity", "accuracy": "Accuracy", "far": "False-alarm rate"}


def per_child_figure(children: pd.DataFrame) -> bytes:
    """Fig. 2A/3A: each child's AUC, sensitivity, specificity and accuracy; undefined cells grey."""
    names = ["auc", "sensitivity", "specificity", "accuracy"]
    values = children[names].astype(float).to_numpy().T  # [metric, child]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.28 * len(children) + 2), 2.6))
    cmap = plt.get_cmap("RdYlGn").copy()
    cmap.set_bad(GREY)
    ax.imshow(np.ma.masked_invalid(values), aspect="auto", cmap=cmap, vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(values):
        if len(children) <= 60:
            ax.text(j, i, "–" if np.isnan(v) else f"{v:.2f}".lstrip("0"), ha="center", va="center", fontsize=6)
    ax.set_yticks(range(len(names)), [LABELS[n] for n in names])
    ax.set_xticks(range(len(children)), children["child"].astype(str), rotation=90, fontsize=6)
    ax.set_title("Per child (grey: undefined for a child with one class)")
    return png(fig)


def overall_figure(metrics: dict) -> bytes:
    """Fig. 2B: mean over children with its bootstrap 95% CI, and the pooled value, per metric."""
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    for i, m in enumerate(METRICS):
        pc, pooled = metrics["per_child"][m], metrics["pooled"].get(m)
        if pc["mean"] is not None:
            low = pc["mean"] - (pc["ci_low"] if pc["ci_low"] is not None else pc["mean"])
            high = (pc["ci_high"] if pc["ci_high"] is not None else pc["mean"]) - pc["mean"]
            ax.bar(i, pc["mean"], color="#7fb3d5", yerr=[[low], [high]], capsize=4, label="mean over children, 95% CI" if i == 0 else None)
            ax.text(i + 0.3, 0.02, f"{pc['mean']:.2f}", ha="right", va="bottom", fontsize=8)
        else:
            ax.text(i, 0.02, "n/a", ha="center", va="bottom", fontsize=8, color="#777777")
        if pooled is not None:
            ax.plot(i, pooled, "D", color="black", label="pooled over segments" if i == 0 else None)
    ax.set_xticks(range(len(METRICS)), [LABELS[m] for m in METRICS], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    ax.set_title("Overall performance")
    return png(fig)


def scores_figure(predictions: pd.DataFrame, threshold: float) -> bytes:
    """Fig. 2C: every segment's score by child, coloured by its label, against the threshold."""
    order = {c: i for i, c in enumerate(sorted(predictions["child"].astype(str).unique()))}
    x = predictions["child"].astype(str).map(order).to_numpy() + np.random.default_rng(0).uniform(-0.25, 0.25, len(predictions))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.25 * len(order) + 2), 3.2))
    spasm = predictions["label"].to_numpy() == 1
    ax.scatter(x[~spasm], predictions["score"][~spasm], s=9, color=NONE, alpha=0.7, label="no spasm")
    ax.scatter(x[spasm], predictions["score"][spasm], s=9, color=SPASM, alpha=0.7, label="spasm")
    ax.axhline(threshold, color="black", ls="--", lw=1, label=f"threshold {threshold:g}")
    ax.set_xticks(range(len(order)), list(order), rotation=90, fontsize=6)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("score (probability of spasm)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_title("All segments against the threshold")
    return png(fig)


def far_figure(children: pd.DataFrame, pooled_far: float | None) -> bytes:
    """Fig. 4: false-alarm rate of each seizure-free child, with the pooled rate."""
    free = children[children["far"].notna()].sort_values("far", ascending=False)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.3 * len(free) + 2), 3.0))
    if free.empty:
        ax.text(0.5, 0.5, "no seizure-free children in this run", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        ax.bar(range(len(free)), 100 * free["far"], color=NONE)
        if pooled_far is not None:
            ax.axhline(100 * pooled_far, color="black", ls="--", lw=1, label=f"pooled {100 * pooled_far:.2f}%")
            ax.legend(fontsize=7)
        ax.set_xticks(range(len(free)), free["child"].astype(str), rotation=90, fontsize=6)
        ax.set_ylabel("segments scored positive (%)")
    ax.set_title("False alarms per seizure-free child")
    return png(fig)


def roc_figure(predictions: pd.DataFrame, threshold: float, auc: float | None) -> bytes:
    """ROC curve over all segments, with the operating point of the threshold."""
    fig, ax = plt.subplots(figsize=(3.6, 3.6))
    y, s = predictions["label"].to_numpy(), predictions["score"].to_numpy()
    if auc is None:
        ax.text(0.5, 0.5, "one class only: no ROC curve", ha="center", va="center")
    else:
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, color=SPASM, label=f"AUC {auc:.3f}")
        pred = s >= threshold
        ax.plot((pred & (y == 0)).sum() / (y == 0).sum(), (pred & (y == 1)).sum() / (y == 1).sum(), "ko", label=f"threshold {threshold:g}")
        ax.legend(fontsize=7, loc="lower right")
    ax.plot([0, 1], [0, 1], color=GREY, lw=1)
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title("ROC")
    return png(fig)


def reliability_figure(calibration: dict) -> bytes:
    """Reliability curve: per bin of the predicted probability, the share of spasm segments against the mean
    probability (on the diagonal: the scores mean what they say), point size by the bin's segments."""
    fig, ax = plt.subplots(figsize=(3.6, 3.6))
    curve = calibration["curve"]
    ax.plot([0, 1], [0, 1], color=GREY, lw=1)
    if curve:
        n = np.array([c["n"] for c in curve], dtype=float)
        ax.plot([c["mean_score"] for c in curve], [c["fraction_spasm"] for c in curve], "-", color=SPASM, lw=1)
        ax.scatter([c["mean_score"] for c in curve], [c["fraction_spasm"] for c in curve], s=10 + 90 * n / n.max(), color=SPASM, zorder=3,
                   label=f"Brier {calibration['brier']:.3f}, ECE {calibration['ece']:.3f}")  # fmt: skip
        ax.legend(fontsize=7, loc="upper left")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("share of spasm segments")
    ax.set_title("Reliability")
    return png(fig)


def _fmt(v: float | None, percent: bool = False) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return '<span class="na">n/a</span>'
    return f"{100 * v:.2f}%" if percent else f"{v:.3f}"


def _metrics_table(metrics: dict) -> str:
    rows = []
    for m in METRICS:
        pc = metrics["per_child"][m]
        pct = m == "far"
        rows.append(
            f"<tr><td>{LABELS[m]}</td><td>{_fmt(metrics['pooled'].get(m), pct)}</td>"
            f"<td>{_fmt(pc['mean'], pct)} [{_fmt(pc['ci_low'], pct)}, {_fmt(pc['ci_high'], pct)}]</td><td>{pc['n']}</td></tr>"
        )
    p = metrics["pooled"]
    far_counts = f"{p['n_false_alarms']}/{p['n_seizure_free_segments']}" if p.get("n_seizure_free_segments") else "no seizure-free children"
    return (
        "<table><tr><th>metric</th><th>pooled</th><th>mean over children [95% CI]</th><th>children</th></tr>"
        + "".join(rows)
        + f"</table><p>{metrics['n_segments']} segments of {metrics['n_children']} children; threshold {metrics['threshold']:g}; "
        f"false alarms {far_counts}.</p>"
    )


def _factors_section(f: dict) -> str:
    """METHOD §7 factor analysis as tables: resolution by cohort, quality of false positives, FAR and AUC without
    night."""

    def num(v, digits: int = 3) -> str:
        return '<span class="na">n/a</span>' if v is None else f"{v:.{digits}g}"

    parts = ["<h2>Video quality and false alarms (METHOD §7)</h2>"]
    r = f.get("resolution_by_cohort")
    if r is not None:
        classes = sorted({k for row in r["counts"].values() for k in row})
        rows = "".join(f"<tr><td>{html.escape(c)}</td>" + "".join(f"<td>{row.get(k, 0)}</td>" for k in classes) + "</tr>" for c, row in r["counts"].items())
        parts.append("<p>Videos per resolution class and cohort; chi-squared "
                     f"{num(r['chi2'])} (df {r['dof'] if r['dof'] is not None else 'n/a'}), p = {num(r['p'])}.</p>"
                     f"<table><tr><th>cohort</th>{''.join(f'<th>{html.escape(k)}</th>' for k in classes)}</tr>{rows}</table>")  # fmt: skip
    tests = f.get("fp_vs_tn") or {}
    if tests:
        rows = "".join(f"<tr><td>{html.escape(c)}</td><td>{num(t['median_fp'])} (n={t['n_fp']})</td><td>{num(t['median_tn'])} (n={t['n_tn']})</td>"
                       f"<td>{num(t['u'])}</td><td>{num(t['p'])}</td></tr>" for c, t in tests.items())  # fmt: skip
        parts.append("<p>False-positive against true-negative segments (two-sided Mann-Whitney U):</p>"
                     f"<table><tr><th>characteristic</th><th>median, false positives</th><th>median, true negatives</th><th>U</th><th>p</th></tr>{rows}</table>")  # fmt: skip
    night = f.get("far_night")
    if night is not None:
        a, d = night["all"], night["without_night"]
        parts.append(f"<p>False-alarm rate on seizure-free children: {_fmt(a['far'], True)} ({a['false_alarms']}/{a['segments']}) with night "
                     f"segments, {_fmt(d['far'], True)} ({d['false_alarms']}/{d['segments']}) without.</p>")  # fmt: skip
    light = f.get("auc_night")
    if light is not None:
        shares = ", ".join(f"{name} {num(light[k]['auc'])} ({light[k]['spasm_segments']} spasm of {light[k]['segments']} segments)"
                           for k, name in (("all", "all segments"), ("day", "by day"), ("night", "at night")))  # fmt: skip
        parts.append(f"<p>Pooled AUC: {shares}.</p>")
    return "".join(parts)


def _children_table(children: pd.DataFrame) -> str:
    head = "".join(f"<th>{LABELS[m]}</th>" for m in METRICS)
    body = "".join(
        f"<tr><td>{html.escape(str(r['child']))}</td><td>{int(r['n'])}</td><td>{int(r['n_positive'])}</td>"
        + "".join(f"<td>{_fmt(r[m], m == 'far')}</td>" for m in METRICS)
        + "</tr>"
        for _, r in children.iterrows()
    )
    return f"<table><tr><th>child</th><th>segments</th><th>spasm segments</th>{head}</tr>{body}</table>"


def write_report(run: Path, title: str) -> Path:
    """Build ``run/report.html`` (and ``run/figures/*.png``) from ``predictions.csv``, ``metrics.json`` and, when
    present, ``table1.csv`` and ``run.json``. Returns the report's path."""
    predictions = pd.read_csv(run / PREDICTIONS_FILE, keep_default_na=False, na_values=[""])
    metrics = json.loads((run / METRICS_FILE).read_text())
    children = pd.DataFrame(metrics["children"]).astype({m: float for m in METRICS})
    threshold = metrics["threshold"]
    figures = {
        "per_child": ("Per-child metrics (paper Fig. 2A/3A)", per_child_figure(children)),
        "overall": ("Overall metrics with 95% confidence intervals (Fig. 2B)", overall_figure(metrics)),
        "scores": ("All segments against the threshold (Fig. 2C)", scores_figure(predictions, threshold)),
        "far": ("False-alarm rate per seizure-free child (Fig. 4)", far_figure(children, metrics["pooled"].get("far"))),
        "roc": ("ROC curve, pooled over segments", roc_figure(predictions, threshold, metrics["pooled"].get("auc"))),
    }
    if "calibration" in metrics:  # runs of older versions have none
        figures["reliability"] = ("Calibration: reliability curve of the pooled predictions, Brier score and expected calibration error "
                                  f"(ECE, {metrics['calibration']['bins']} equal-width bins)", reliability_figure(metrics["calibration"]))  # fmt: skip
    (run / "figures").mkdir(exist_ok=True)
    parts = [f"<h1>{html.escape(title)}</h1>", _metrics_table(metrics)]
    for name, (caption, data) in figures.items():
        atomic.write_bytes(run / "figures" / f"{name}.png", data)
        parts.append(f"<h2>{caption}</h2>{img(data, name)}")
    parts.append("<h2>Per child</h2>" + _children_table(children))
    if (run / TABLE1_FILE).exists():
        table1 = format_table1(pd.read_csv(run / TABLE1_FILE))
        parts.append("<h2>Table 1: cohorts and video characteristics (median [IQR])</h2>" + table1.to_html(escape=True, border=0))
    if (run / FACTORS_FILE).exists():
        parts.append(_factors_section(json.loads((run / FACTORS_FILE).read_text())))
    if (run / RUN_FILE).exists():
        parts.append(f"<details><summary>Run configuration</summary><pre>{html.escape((run / RUN_FILE).read_text())}</pre></details>")
    parts.append("<p class='note'>Segment-level metrics as in Miron et al. 2024. Not a clinical device: every flagged segment needs review by a clinician.</p>")
    atomic.write_text(run / REPORT_FILE, page(title, parts))
    return run / REPORT_FILE
