"""A screening run folder's own files, and the one reader of its windows table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from spasmscope.errors import InputError

SCREEN_FILE = "screen.json"
WINDOWS_FILE = "windows.csv"
EVENTS_FILE = "events.csv"
REPORT_FILE = "report.html"
RECORDINGS = "recordings"  # one folder per finished recording, holding its WINDOWS_FILE

WINDOW_COLUMNS = ["video", "start", "end", "score", "valid", "reason", "visibility", "crop_x", "crop_y", "crop_w", "crop_h",
                  "width", "height", "fps", "bitrate", "brightness", "night_stat", "night", "motion", "sharpness"]  # fmt: skip


def read_windows(path: Path) -> pd.DataFrame:
    """A ``windows.csv`` of a screening run, as it was written (empty ``reason`` for valid windows)."""
    if not Path(path).is_file():
        raise InputError(path, "windows file not found", "give the windows.csv that `spasmscope screen` wrote")
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    missing = [c for c in ("video", "start", "end", "score", "valid") if c not in table.columns]
    if missing:
        raise InputError(path, f"has no column {', '.join(missing)}", "give the windows.csv that `spasmscope screen` wrote")
    if "reason" in table.columns:
        table["reason"] = table["reason"].astype(object).fillna("")  # all empty reads as numbers
    return table
