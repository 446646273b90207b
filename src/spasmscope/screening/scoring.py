"""``spasmscope score-events``: a screening run's windows scored against annotated spasms, and the files that say
how (METHOD §6, event level)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spasmscope import atomic
from spasmscope.data.manifest import read_events, read_movements
from spasmscope.screening.events import EventParams, align_videos, choose_threshold, detections, recording_durations, score_events, sweep, szcore_tsv, window_truth
from spasmscope.screening.runs import read_windows

SWEEP_THRESHOLDS = np.round(np.arange(0.05, 1.0, 0.05), 2)  # the thresholds of sweep.csv and sweep.png


def score_run(windows: Path, events: Path, out: Path, params: EventParams, target_fa_per_24h: float | None = None, movements: Path | None = None) -> dict:
    """Score ``windows`` (a ``windows.csv`` of ``screen``) against ``events`` (``video,onset,offset``) at spasm and
    cluster level; sweep the threshold; with ``target_fa_per_24h``, choose the threshold with the best sensitivity
    at most that many false alarms per 24 h; with ``movements`` (``video,kind,onset,offset``, e.g. a synthetic
    cohort's ``movements.csv``), say how the spasm-free windows holding each kind of movement score
    (``by_movement``). Writes ``event_metrics.json``, ``sweep.csv``, ``sweep.png`` and ``detections/*_events.tsv``
    (SzCORE/BIDS) under ``out``; returns the metrics."""
    table = read_windows(windows)
    videos = list(table["video"].unique())
    reference = align_videos(read_events(events), videos, events.parent)
    metrics = score_events(table, reference, params)
    if movements is not None:
        from spasmscope.data.movements import spasm_against_movements  # scikit-learn's second of import, only when asked

        moved = align_videos(read_movements(movements), videos, movements.parent)
        metrics["by_movement"] = spasm_against_movements(window_truth(table, reference), moved, params.threshold)
    sweep_table = sweep(table, reference, params, SWEEP_THRESHOLDS)
    chosen = None
    if target_fa_per_24h is not None:
        chosen = choose_threshold(sweep_table, target_fa_per_24h)
        metrics["target_false_alarms_per_24h"] = target_fa_per_24h
        metrics["chosen_threshold"] = chosen
    atomic.write_json(out / "event_metrics.json", metrics)
    atomic.write_csv(out / "sweep.csv", sweep_table)
    from spasmscope.screening.report import sweep_figure  # matplotlib, after the inputs are read and scored

    atomic.write_bytes(out / "sweep.png", sweep_figure(sweep_table, chosen))
    for video, duration in recording_durations(table).items():
        found = detections(table[table["video"] == video], params.threshold, params.merge_gap)
        atomic.write_with(out / "detections" / f"{Path(video).stem}_events.tsv", lambda f, d=found, t=duration: szcore_tsv(d, t).to_csv(f, sep="\t", index=False))
    return metrics
