"""Event-level arithmetic of screening (METHOD §6, event level): windows over a recording, detections merged
from windows, and their scoring against annotated spasms as seizure-detection standards ask (Beniczky &
Ryvlin 2018; SzCORE).

Pure functions on arrays and tables; times are seconds from the recording's first frame.

Matching is SzCORE's any-overlap event scoring, computed by its reference package ``timescoring``: each
reference event, widened by the tolerances, is detected when a detection overlaps it; a detection that
overlaps no widened reference event is a false alarm; events closer than ``min_gap`` are merged first (on
both sides) and events longer than ``max_duration`` split. At spasm level ``min_gap`` is 0; at cluster level
it is the cluster gap, so spasms less than the gap apart form one cluster, and so do detections.

What the package does not cover is ours: windows and their merging into detections, invalid stretches
(deficiency time; reference events inside them cannot be scored and are counted apart), latency, pooling
over recordings, the threshold sweep and the BIDS/SzCORE export.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from spasmscope.data.segments import overlapping
from spasmscope.errors import SettingError

SCORER_HZ = 10  # timescoring works on masks at 10 Hz; every time here is rounded to 0.1 s there


@dataclass(frozen=True)
class EventParams:
    """How detections are formed and matched; defaults suit spasms (1-3 s events, 5-s windows)."""

    threshold: float = 0.5  # a window with score >= threshold is positive
    merge_gap: float = 0.0  # seconds: positive windows closer than this (or overlapping) form one detection
    tolerance_start: float = 2.5  # seconds a detection may start before a spasm's onset... (SzCORE: 30 for seizures)
    tolerance_end: float = 2.5  # ... or lie after its offset, and still count as detecting it (SzCORE: 60)
    max_duration: float = 10.0  # seconds: at spasm level longer events are split before matching, so one
    # detection spanning minutes cannot pass for a single true one (SzCORE splits at 300 s, for seizures)
    cluster_gap: float = 60.0  # seconds: spasms (and detections) less than this apart form one cluster
    cluster_max_duration: float = 300.0  # seconds: the same split at cluster level (SzCORE's value)

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise SettingError(f"threshold={self.threshold}", "a probability threshold must be strictly between 0 and 1")
        for name in ("merge_gap", "tolerance_start", "tolerance_end", "cluster_gap"):
            if getattr(self, name) < 0:
                raise SettingError(f"{name}={getattr(self, name)}", "seconds cannot be negative")
        if min(self.max_duration, self.cluster_max_duration) <= 0:
            raise SettingError(f"max_duration={self.max_duration}, cluster_max_duration={self.cluster_max_duration}", "both must be positive")


def merge_close(spans: np.ndarray, gap: float = 0.0) -> np.ndarray:
    """``[N, 2]`` intervals -> sorted, disjoint ``[M, 2]`` intervals: overlapping or touching ones joined, and with
    ``gap > 0`` also those less than ``gap`` seconds apart (SzCORE's merging of neighbouring events)."""
    spans = np.asarray(spans, dtype=float).reshape(-1, 2)
    if len(spans) == 0:
        return spans
    spans = spans[np.argsort(spans[:, 0], kind="stable")]
    out = [list(spans[0])]
    for a, b in spans[1:]:
        if a <= out[-1][1] or a - out[-1][1] < gap:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return np.array(out)


def deficiency(windows: pd.DataFrame, duration: float) -> float:
    """Seconds of ``[0, duration]`` covered by no valid window (infant not found, unreadable, too dark)."""
    valid = windows.loc[windows["valid"].astype(bool), ["start", "end"]].to_numpy()
    spans = np.clip(merge_close(valid), 0.0, duration)
    return float(duration - (spans[:, 1] - spans[:, 0]).sum()) if len(spans) else float(duration)


def detections(windows: pd.DataFrame, threshold: float, merge_gap: float = 0.0) -> pd.DataFrame:
    """Detected events of one recording: valid windows with ``score >= threshold``, those that overlap, touch or
    lie at most ``merge_gap`` apart merged. Columns: ``onset``, ``offset`` (seconds), ``peak_score``, ``peak_time``
    (middle of the best window) and ``first_alarm`` (end of the first positive window: when a live system
    could have raised the alarm)."""
    columns = ["onset", "offset", "peak_score", "peak_time", "first_alarm"]
    w = windows[windows["valid"].astype(bool) & (windows["score"] >= threshold)].sort_values("start", kind="stable")
    rows: list[dict] = []
    for r in w.itertuples(index=False):
        if rows and r.start <= rows[-1]["offset"] + merge_gap:
            d = rows[-1]
            d["offset"] = max(d["offset"], r.end)
            d["first_alarm"] = min(d["first_alarm"], r.end)
            if r.score > d["peak_score"]:
                d["peak_score"], d["peak_time"] = r.score, (r.start + r.end) / 2
        else:
            rows.append({"onset": r.start, "offset": r.end, "peak_score": r.score, "peak_time": (r.start + r.end) / 2, "first_alarm": r.end})
    return pd.DataFrame(rows, columns=columns).astype(float)


def window_truth(windows: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """The scored windows (``valid``) with a ``label``: 1 where the window overlaps a reference spasm of its video
    (``reference``: ``video``, ``onset``, ``offset``, seconds), else 0."""
    scored = windows[windows["valid"].astype(bool)].reset_index(drop=True)
    hit = set(overlapping(scored, reference[["video", "onset", "offset"]])["row"])
    return scored.assign(label=[int(i in hit) for i in range(len(scored))])


def _overlaps(a0: float, a1: float, b0: float, b1: float) -> bool:
    return a0 < b1 and b0 < a1


@dataclass(frozen=True)
class RecordingScore:
    """Counts of one recording at one level (spasm or cluster); pooled by summing."""

    reference: int  # scoreable reference events (after merging into clusters at cluster level)
    true_positive: int  # reference events detected
    false_positive: int  # detections that match no reference event
    detected_events: int  # detections after the scorer's merging and splitting
    unscorable: int  # reference events wholly inside deficiency time: left out of the counts above
    hours: float  # recording duration
    deficiency_hours: float
    latencies: tuple[float, ...]  # seconds from a detected reference event's onset to the first alarm on it


def score_recording(windows: pd.DataFrame, reference: pd.DataFrame, duration: float, params: EventParams, cluster: bool) -> RecordingScore:
    """Score one recording's windows (``start``, ``end``, ``score``, ``valid``) against its reference events
    (``onset``, ``offset``) at spasm level, or at cluster level when ``cluster``."""
    from timescoring.annotations import Annotation
    from timescoring.scoring import EventScoring

    n = int(round(duration * SCORER_HZ))
    valid = merge_close(windows.loc[windows["valid"].astype(bool), ["start", "end"]].to_numpy())
    ref = reference.sort_values("onset")[["onset", "offset"]].to_numpy(dtype=float).reshape(-1, 2)
    ref = np.clip(ref, 0.0, duration)
    ref = ref[ref[:, 1] > ref[:, 0]]
    gap = params.cluster_gap if cluster else 0.0
    # Clusters (or spasms) first, so a cluster is unscorable only when none of its spasms could be seen.
    events = [(float(a), float(b)) for a, b in merge_close(ref, gap)]
    scoreable = [e for e in events if any(_overlaps(e[0], e[1], a, b) for a, b in valid)]
    found = detections(windows, params.threshold, params.merge_gap)
    hyp = [(float(a), float(b)) for a, b in np.clip(found[["onset", "offset"]].to_numpy(), 0.0, duration)]
    scoring = EventScoring(
        Annotation(scoreable, SCORER_HZ, n),
        Annotation(hyp, SCORER_HZ, n),
        EventScoring.Parameters(toleranceStart=params.tolerance_start, toleranceEnd=params.tolerance_end, minOverlap=0,
                                maxEventDuration=params.cluster_max_duration if cluster else params.max_duration, minDurationBetweenEvents=gap),
    )  # fmt: skip
    latencies = []
    for onset, offset in scoreable:
        lo, hi = onset - params.tolerance_start, offset + params.tolerance_end
        alarms = [d.first_alarm for d in found.itertuples() if _overlaps(d.onset, d.offset, lo, hi)]
        if alarms:
            latencies.append(float(min(alarms) - onset))
    return RecordingScore(
        reference=len(scoreable),
        true_positive=int(scoring.tp),
        false_positive=int(scoring.fp),
        detected_events=len(scoring.hyp.events),
        unscorable=len(events) - len(scoreable),
        hours=duration / 3600,
        deficiency_hours=deficiency(windows, duration) / 3600,
        latencies=tuple(latencies),
    )


def pool(scores: list[RecordingScore]) -> dict[str, float | int | None]:
    """Pooled event metrics over recordings: sensitivity = TP / reference, precision = TP / (TP + FP), F1, false
    alarms per hour and per 24 h (FP / recording hours), latency median and range, deficiency time."""
    tp = sum(s.true_positive for s in scores)
    fp = sum(s.false_positive for s in scores)
    ref = sum(s.reference for s in scores)
    hours = sum(s.hours for s in scores)
    lat = [x for s in scores for x in s.latencies]

    def ratio(a: float, b: float) -> float | None:
        return a / b if b > 0 else None

    return {
        "reference_events": ref,
        "true_positive": tp,
        "false_positive": fp,
        "unscorable_events": sum(s.unscorable for s in scores),
        "sensitivity": ratio(tp, ref),
        "precision": ratio(tp, tp + fp),
        "f1": ratio(2 * tp, 2 * tp + fp + (ref - tp)),
        "false_alarms_per_hour": ratio(fp, hours),
        "false_alarms_per_24h": ratio(fp * 24, hours),
        "latency_median_s": float(np.median(lat)) if lat else None,
        "latency_min_s": float(min(lat)) if lat else None,
        "latency_max_s": float(max(lat)) if lat else None,
        "hours": hours,
        "deficiency_hours": sum(s.deficiency_hours for s in scores),
        "deficiency_share": ratio(sum(s.deficiency_hours for s in scores), hours),
    }


def align_videos(reference: pd.DataFrame, videos: list[str], base: Path) -> pd.DataFrame:
    """``reference`` with its ``video`` names replaced by the screened ``videos`` they name: the same string, the
    same file (a reference path is relative to ``base``, the events file's folder), or else the same file name
    when only one screened video has it. Rows naming no screened video are dropped."""
    by_path = {str(Path(v).resolve()): v for v in videos}
    by_name: dict[str, list[str]] = {}
    for v in videos:
        by_name.setdefault(Path(v).name, []).append(v)

    def match(name: str) -> str | None:
        if name in videos:
            return name
        path = Path(name) if Path(name).is_absolute() else base / name
        if str(path.resolve()) in by_path:
            return by_path[str(path.resolve())]
        same = by_name.get(Path(name).name, [])
        return same[0] if len(same) == 1 else None

    out = reference.assign(video=[match(str(v)) for v in reference["video"]])
    return out[out["video"].notna()].reset_index(drop=True)


def recording_durations(windows: pd.DataFrame) -> dict[str, float]:
    """Each recording's duration: windows cover the whole recording, so its last window ends at the end."""
    return windows.groupby("video")["end"].max().astype(float).to_dict()


def score_events(windows: pd.DataFrame, reference: pd.DataFrame, params: EventParams) -> dict[str, dict]:
    """Event metrics at spasm and cluster level, pooled over the recordings in ``windows`` (``video``, ``start``,
    ``end``, ``score``, ``valid``); ``reference`` has ``video``, ``onset``, ``offset`` (videos matched by name)."""
    out: dict[str, dict] = {"params": asdict(params)}
    durations = recording_durations(windows)
    for level, cluster in (("spasm", False), ("cluster", True)):
        scores = [
            score_recording(windows[windows["video"] == v], reference[reference["video"] == v], d, params, cluster)
            for v, d in durations.items()
        ]  # fmt: skip
        out[level] = pool(scores)
    out["recordings"] = len(durations)
    return out


def sweep(windows: pd.DataFrame, reference: pd.DataFrame, params: EventParams, thresholds: np.ndarray) -> pd.DataFrame:
    """Spasm- and cluster-level sensitivity and false alarms per 24 h at each threshold: one row per threshold."""
    from dataclasses import replace

    rows = []
    for t in thresholds:
        m = score_events(windows, reference, replace(params, threshold=float(t)))
        rows.append({"threshold": float(t), **{f"{level}_{k}": m[level][k] for level in ("spasm", "cluster")
                                                for k in ("sensitivity", "precision", "false_alarms_per_24h")}})  # fmt: skip
    return pd.DataFrame(rows)


def choose_threshold(table: pd.DataFrame, max_false_alarms_per_24h: float, level: str = "spasm") -> float | None:
    """The threshold of a ``sweep`` table with the highest sensitivity among those whose false alarms per 24 h
    stay at or below the target (the lowest such threshold on ties); None when no threshold meets it."""
    fa, sens = table[f"{level}_false_alarms_per_24h"], table[f"{level}_sensitivity"].fillna(0.0)
    ok = table[fa.fillna(0.0) <= max_false_alarms_per_24h + 1e-12]
    if ok.empty:
        return None
    best = ok[sens[ok.index] == sens[ok.index].max()]
    return float(best["threshold"].min())


def szcore_tsv(found: pd.DataFrame, duration: float, date_time: str = "2000-01-01 00:00:00", channels: str = "n/a") -> pd.DataFrame:
    """Detections of one recording as a BIDS events table in SzCORE's annotation layout: ``onset``, ``duration``
    (seconds), ``eventType`` (``sz``: a seizure event, here an epileptic spasm or cluster), ``confidence`` (peak
    score), ``channels``, ``dateTime``, ``recordingDuration``. A recording without detections gets one
    ``bckg`` row spanning it, as SzCORE files do."""
    if found.empty:
        rows = [{"onset": 0.0, "duration": duration, "eventType": "bckg", "confidence": "n/a"}]
    else:
        rows = [{"onset": r.onset, "duration": r.offset - r.onset, "eventType": "sz", "confidence": round(r.peak_score, 4)} for r in found.itertuples()]
    table = pd.DataFrame(rows)
    table["channels"] = channels
    table["dateTime"] = date_time
    table["recordingDuration"] = duration
    return table
