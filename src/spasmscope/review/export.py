"""``spasmscope review export``: a review's decisions as data to train and to score with (METHOD §10).

Per recording a BIDS/HED-SCORE-style ``*_events.tsv`` (onset, duration, eventType, confidence, reviewer,
decision); ``decisions.csv`` (every item's current decision per reviewer); ``events.csv`` (the accepted and
reviewer-added spasms, in the form ``score-events`` reads as truth); ``manifest.csv`` (a 5-s segment around each
decided item: accepted and added -> label 1, rejected -> 0, the form ``cv`` and ``train`` read); and, with two
reviewers, their agreement (Cohen's kappa) and the items they disagree on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from spasmscope import atomic
from spasmscope.data.segments import SEGMENT_S
from spasmscope.review.items import ITEM_COLUMNS, detections, durations
from spasmscope.review.store import STORE_FILE, ReviewStore


@dataclass(frozen=True)
class ExportResult:
    decisions: pd.DataFrame  # item columns + reviewer, decision, note, time
    manifest: pd.DataFrame  # 5-s segments with labels
    agreement: dict | None  # with two reviewers or more: kappa of the first two and the items they disagree on


def reviewed_items(run: Path, store: ReviewStore) -> pd.DataFrame:
    """The run's detections and reviewer-added events, each with its current decision per reviewer (an item no one
    decided has one row with empty reviewer and decision)."""
    added = store.added()
    extra = pd.DataFrame({"item": added["item"], "run": str(run), "video": added["video"], "onset": added["onset"], "offset": added["offset"],
                          "peak_score": float("nan"), "peak_time": float("nan"), "kind": "added"})  # fmt: skip
    frames = [f for f in (detections(run), extra) if not f.empty]
    items = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ITEM_COLUMNS)
    return items.merge(store.current(), on="item", how="left").fillna({"reviewer": "", "decision": "", "note": "", "time": ""})


def _segment(onset: float, offset: float, duration: float) -> tuple[float, float]:
    """The 5-s segment centred on an event, inside the recording."""
    start = min(max(0.0, (onset + offset) / 2 - SEGMENT_S / 2), max(0.0, duration - SEGMENT_S))
    return round(start, 3), round(min(start + SEGMENT_S, duration), 3)


def export(run: Path, out: Path, child: str | None = None, cohort: str = "reviewed") -> ExportResult:
    """Write the exports listed in the module docstring for the review of the screening run ``run`` under ``out``.
    An item counts in the manifest and ``events.csv`` when every reviewer who decided it agrees (``unsure`` counts
    for neither side); ``child`` defaults to each recording's file name without its extension."""
    store = ReviewStore(run / STORE_FILE)
    table = reviewed_items(run, store)
    decided = table[table["decision"] != ""]
    atomic.write_csv(out / "decisions.csv", decided)
    lengths = durations(run)
    for video, rows in table.groupby("video", sort=False):
        tsv = pd.DataFrame({
            "onset": rows["onset"].round(3), "duration": (rows["offset"] - rows["onset"]).round(3), "eventType": "sz",
            "confidence": rows["peak_score"].round(4).astype(object).where(rows["peak_score"].notna(), "n/a"),
            "reviewer": rows["reviewer"].replace("", "n/a"), "decision": rows["decision"].replace("", "n/a"), "recording": video,
        })  # fmt: skip
        atomic.write_with(out / f"{Path(video).stem}_events.tsv", lambda f, t=tsv: t.to_csv(f, sep="\t", index=False))
    verdict = decided[decided["decision"] != "unsure"].groupby("item")["decision"].agg(lambda d: d.iloc[0] if d.nunique() == 1 else "")
    final = table.drop_duplicates("item").set_index("item").join(verdict.rename("verdict"), how="inner")
    final = final[final["verdict"] != ""]
    rows = []
    for item, r in final.iterrows():
        start, end = _segment(float(r["onset"]), float(r["offset"]), lengths.get(r["video"], float(r["offset"])))
        rows.append({"video": r["video"], "child": child or Path(r["video"]).stem, "start": start, "end": end,
                     "label": int(r["verdict"] == "accept"), "cohort": cohort, "item": item, "kind": r["kind"]})  # fmt: skip
    manifest = pd.DataFrame(rows, columns=["video", "child", "start", "end", "label", "cohort", "item", "kind"]).drop_duplicates(["video", "start", "end"])
    atomic.write_csv(out / "manifest.csv", manifest)
    spasms = final[final["verdict"] == "accept"]
    events = pd.DataFrame({"video": spasms["video"], "onset": spasms["onset"], "offset": spasms["offset"]})
    atomic.write_csv(out / "events.csv", events)
    agreement = _agreement(decided)
    if agreement is not None:
        atomic.write_json(out / "agreement.json", agreement)
    return ExportResult(decided, manifest, agreement)


def _agreement(decided: pd.DataFrame) -> dict | None:
    """Cohen's kappa of the first two reviewers over the items both decided, and the items where they differ."""
    reviewers = list(dict.fromkeys(decided["reviewer"]))
    if len(reviewers) < 2:
        return None
    from sklearn.metrics import cohen_kappa_score  # a second of import, paid only when two reviewers decided

    a, b = (decided[decided["reviewer"] == r].set_index("item")["decision"] for r in reviewers[:2])
    both = a.index.intersection(b.index)
    kappa = float(cohen_kappa_score(a[both], b[both])) if len(both) and len(set(a[both]) | set(b[both])) > 1 else None
    differ = [{"item": i, reviewers[0]: a[i], reviewers[1]: b[i]} for i in both if a[i] != b[i]]
    return {"reviewers": reviewers[:2], "items_both_decided": len(both), "cohen_kappa": kappa, "disagreements": differ}
