"""What a reviewer decides on: the detections of screening runs, each an item with a stable name."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from spasmscope.errors import InputError
from spasmscope.screening.events import recording_durations
from spasmscope.screening.screen import read_windows

ITEM_COLUMNS = ["item", "run", "video", "onset", "offset", "peak_score", "peak_time", "kind"]


def item_name(video: str, onset: float) -> str:
    """``name.mp4@12.50``: the recording's file name and the detection's onset, stable across reloads and exports."""
    return f"{Path(video).name}@{onset:.2f}"


def check_run(run: Path) -> None:
    """A screening run folder, or a one-line error saying what it lacks."""
    if not (run / "windows.csv").is_file() or not (run / "events.csv").is_file():
        raise InputError(run, "is not a screening run (no windows.csv and events.csv)", "give the --out folder of `spasmscope screen`")


def detections(run: Path) -> pd.DataFrame:
    """The run's detections as items (``ITEM_COLUMNS``; ``kind`` is ``detection``), in the order screening found
    them."""
    check_run(run)
    events = pd.read_csv(run / "events.csv")
    if events.empty:
        return pd.DataFrame(columns=ITEM_COLUMNS)
    items = events.assign(item=[item_name(v, o) for v, o in zip(events["video"], events["onset"], strict=True)], run=str(run), kind="detection")
    return items[ITEM_COLUMNS].reset_index(drop=True)


def durations(run: Path) -> dict[str, float]:
    """Seconds covered by each recording of the run (its last window's end)."""
    check_run(run)
    return recording_durations(read_windows(run / "windows.csv"))
