"""How often does screening's crop contain the infant? Checks a `spasmscope screen` run on synthetic recordings
against the true positions the generator wrote (issue "Screening", acceptance: at least 95% of valid windows).

    .venv/bin/python benchmarks/crop_check.py SYNTH_FOLDER SCREEN_OUT

A window counts when the infant's box centre lies inside the crop at every position sample (every 0.5 s) of the
window; the share of windows whose crop holds the whole box is printed beside it. Prints one JSON object.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from spasmscope.screening.runs import WINDOWS_FILE, read_windows


def containment(windows: pd.DataFrame, positions: pd.DataFrame) -> dict[str, float | int]:
    """``windows``: one recording's rows of windows.csv; ``positions``: its rows of positions.csv (x, y, w, h in
    upright pixels every 0.5 s). Shares of valid windows whose crop holds the box centre (all samples) and the box."""
    centre, whole, n = 0, 0, 0
    t = positions["time"].to_numpy()
    for w in windows[windows["valid"] == 1].itertuples():
        p = positions[(t >= w.start) & (t < w.end)]
        if p.empty:
            continue
        x0, y0, x1, y1 = w.crop_x, w.crop_y, w.crop_x + w.crop_w, w.crop_y + w.crop_h
        cx, cy = (p.x + p.w / 2).to_numpy(), (p.y + p.h / 2).to_numpy()
        n += 1
        centre += bool(np.all((cx >= x0) & (cx <= x1) & (cy >= y0) & (cy <= y1)))
        whole += bool(np.all((p.x >= x0) & (p.y >= y0) & (p.x + p.w <= x1) & (p.y + p.h <= y1)))
    return {"valid_windows": n, "centre_inside": round(centre / max(n, 1), 4), "box_inside": round(whole / max(n, 1), 4)}


def main(synth: Path, out: Path) -> None:
    positions = pd.read_csv(synth / "positions.csv")
    windows = read_windows(out / WINDOWS_FILE)
    result = {}
    for video, rows in windows.groupby("video"):
        rel = Path(video).resolve().relative_to(synth.resolve()).as_posix()
        crop_share = float((rows["crop_w"] * rows["crop_h"] / (rows["width"] * rows["height"]))[rows["valid"] == 1].median())
        result[rel] = {**containment(rows, positions[positions["video"] == rel]), "windows": len(rows),
                       "valid_share": round(float(rows["valid"].mean()), 4), "median_crop_area_share": None if np.isnan(crop_share) else round(crop_share, 4)}  # fmt: skip
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
