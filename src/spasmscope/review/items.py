"""What a reviewer decides on: the detections of screening runs, or the positive segments of ``cv`` and
``evaluate`` runs, each an item with a stable name.

A screening run (``windows.csv``, ``events.csv``) gives its detections and windows as they are. A ``cv`` or
``evaluate`` run (``predictions.csv``, ``run.json``) is read as one: its segments are the windows (videos found from
the run's manifest), and each segment scoring at or above the run's threshold is a detection.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pandas as pd

from spasmscope.data.segments import SEGMENT_S
from spasmscope.data.video import probe
from spasmscope.errors import InputError
from spasmscope.screening.events import recording_durations
from spasmscope.screening.runs import EVENTS_FILE, SCREEN_FILE, WINDOW_COLUMNS, WINDOWS_FILE, read_windows
from spasmscope.study.runs import METRICS_FILE, PREDICTIONS_FILE, RUN_FILE

ITEM_COLUMNS = ["item", "run", "video", "onset", "offset", "peak_score", "peak_time", "kind"]


def item_name(video: str, onset: float) -> str:
    """``name.mp4@12.50``: the recording's file name and the detection's onset, stable across reloads and exports."""
    return f"{Path(video).name}@{onset:.2f}"


def is_segment_run(run: Path) -> bool:
    """Whether ``run`` is a ``cv`` or ``evaluate`` run folder (scored segments) rather than a screening run."""
    return (run / PREDICTIONS_FILE).is_file() and (run / RUN_FILE).is_file() and not (run / WINDOWS_FILE).is_file()


def check_run(run: Path) -> None:
    """A screening, ``cv`` or ``evaluate`` run folder, or a one-line error saying what it lacks."""
    if is_segment_run(run):
        return
    if not (run / WINDOWS_FILE).is_file() or not (run / EVENTS_FILE).is_file():
        raise InputError(run, "is not a run to review (no windows.csv and events.csv, nor predictions.csv and run.json)",
                         "give the --out folder of `spasmscope screen`, `cv` or `evaluate`")  # fmt: skip


def _segments(run: Path) -> tuple[pd.DataFrame, float]:
    """A cv/evaluate run's scored segments as windows (``WINDOW_COLUMNS``, videos as paths) and its threshold. Read
    once per version of the run's files: a station asks for windows, threshold, detections and durations in turn."""
    stats = [f.stat() if f.is_file() else None for f in (run / RUN_FILE, run / METRICS_FILE, run / PREDICTIONS_FILE)]
    stamps = tuple((st.st_mtime_ns, st.st_size) if st else None for st in stats)
    table, cut = _read_segments(run.resolve(), stamps)
    return table.copy(), cut


@lru_cache(maxsize=16)
def _read_segments(run: Path, stamps: tuple) -> tuple[pd.DataFrame, float]:
    """``_segments`` for the files as ``stamps`` (modification time and size of each) saw them."""
    meta = json.loads((run / RUN_FILE).read_text())
    metrics = run / METRICS_FILE
    threshold = float(json.loads(metrics.read_text())["threshold"]) if metrics.is_file() else 0.5
    table = pd.read_csv(run / PREDICTIONS_FILE, dtype={"video": str})
    base = Path(meta.get("manifest", run / "manifest.csv")).parent
    table["video"] = [v if Path(v).is_absolute() else str((base / v).resolve()) for v in table["video"]]
    if "end" not in table.columns:
        table["end"] = table["start"] + SEGMENT_S
    windows = table.assign(valid=1).reindex(columns=WINDOW_COLUMNS)
    windows["reason"] = ""
    return windows, threshold


def windows(run: Path) -> pd.DataFrame:
    """The run's windows (screening) or scored segments (cv, evaluate), ``WINDOW_COLUMNS``."""
    check_run(run)
    return _segments(run)[0] if is_segment_run(run) else read_windows(run / WINDOWS_FILE)


def threshold(run: Path) -> float:
    """The score at or above which the run calls a window or segment positive."""
    if is_segment_run(run):
        return _segments(run)[1]
    screen = run / SCREEN_FILE
    return float(json.loads(screen.read_text())["config"]["threshold"]) if screen.is_file() else 0.5


def detections(run: Path) -> pd.DataFrame:
    """The run's detections as items (``ITEM_COLUMNS``; ``kind`` is ``detection``), in the order screening found
    them; for a cv/evaluate run, its segments at or above its threshold, in the order of ``predictions.csv``."""
    check_run(run)
    if is_segment_run(run):
        table, cut = _segments(run)
        found = table[table["score"] >= cut]
        events = pd.DataFrame({"video": found["video"], "onset": found["start"], "offset": found["end"], "peak_score": found["score"],
                               "peak_time": (found["start"] + found["end"]) / 2})  # fmt: skip
    else:
        events = pd.read_csv(run / EVENTS_FILE)
    if events.empty:
        return pd.DataFrame(columns=ITEM_COLUMNS)
    items = events.assign(item=[item_name(v, o) for v, o in zip(events["video"], events["onset"], strict=True)], run=str(run), kind="detection")
    return items[ITEM_COLUMNS].drop_duplicates("item").reset_index(drop=True)


def durations(run: Path) -> dict[str, float]:
    """Seconds of each recording of the run: screening covers a recording whole, so its last window's end; a
    cv/evaluate run's videos are measured (``probe``) where they are, else their last segment's end."""
    check_run(run)
    if not is_segment_run(run):
        return recording_durations(read_windows(run / WINDOWS_FILE))
    ends = recording_durations(_segments(run)[0])
    return {v: probe(v).duration if Path(v).is_file() else end for v, end in ends.items()}
