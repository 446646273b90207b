"""Where `prepare --crop-infant` cuts each segment of a synthetic cohort, against where the generator drew the infant.

    .venv/bin/python benchmarks/segment_crops.py COHORT [--csv OUT.csv]

Each segment is decoded at the working size and localised alone, as ``data.cache.frames_to_clips`` does before it
cuts (``MotionLocaliser().update``), and its crop is compared with the infant's boxes in ``positions.csv`` (every
0.5 s, which ``spasmscope synth`` writes): ``whole``, the crop is the whole frame; ``cut``, some box of the segment
reaches more than 2 pixels past the crop; ``fill``, the boxes' extent over the segment, as a share of the crop's side
(the larger of width and height): how much of the clip the infant and its movement take. Prints one JSON line per view
(close, wide) and camera (tripod, hand-held: the localiser saw the camera move), with the shares and the median fill;
``--csv`` writes every segment's row.

A cohort re-filmed by ``benchmarks/rerecord.py --hand`` keeps its positions file, whose boxes then miss the hand's
shake (a few percent of the frame): read its ``cut`` as approximate.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from spasmscope.data.localise import LocaliseConfig, MotionLocaliser, analysis_grey, analysis_size, camera_moves
from spasmscope.data.preprocess import working_size
from spasmscope.data.video import TARGET_FPS, probe, read_segment
from spasmscope.model.config import preset

SLACK = 2  # pixels of the working size a box may reach past the crop before it counts as cut


def cuts(extent: tuple[float, float, float, float], crop: tuple[int, int, int, int]) -> bool:
    """Whether the infant's ``extent`` ``(x0, y0, x1, y1)`` reaches more than ``SLACK`` pixels past ``crop``
    ``(x, y, w, h)`` (both in the working size's pixels)."""
    (x0, y0, x1, y1), (x, y, w, h) = extent, crop
    return x0 < x - SLACK or y0 < y - SLACK or x1 > x + w + SLACK or y1 > y + h + SLACK


def decoded_segments(cohort: Path) -> Iterator[tuple[Any, np.ndarray, tuple[float, float, float, float]]]:
    """Each segment of ``cohort``'s manifest: its row, its frames ``[N, H, W, 3] uint8`` decoded at the `cpu` preset's
    working size, and the infant's extent over it ``(x0, y0, x1, y1)`` in those pixels (the union of the generator's
    boxes in ``positions.csv``)."""
    clip = preset("cpu").clip
    positions = pd.read_csv(cohort / "positions.csv")
    for r in pd.read_csv(cohort / "manifest.csv").itertuples(index=False):
        info = probe(str(cohort / r.video))
        w, h = working_size(info.width, info.height, clip)
        frames = read_segment(str(cohort / r.video), r.start, r.end, size=(w, h))
        p = positions[(positions.video == r.video) & (positions.time >= r.start) & (positions.time < r.end)]
        sx, sy = w / info.width, h / info.height
        yield r, frames, (float((p.x * sx).min()), float((p.y * sy).min()), float(((p.x + p.w) * sx).max()), float(((p.y + p.h) * sy).max()))


def camera_seen_moving(frames: np.ndarray, local: LocaliseConfig) -> bool:
    """Whether the localiser sees the camera move in a segment's ``frames`` ``[N, H, W, 3] uint8``: its own test, on the
    frames it reads (each compared with the one two places on)."""
    h, w = frames.shape[1:3]
    aw, ah = analysis_size(w, h, local)
    grey = np.stack([analysis_grey(frames[i], (aw, ah)) for i in MotionLocaliser(local).frames_read(len(frames), TARGET_FPS)])
    return camera_moves(grey.astype(np.float32), 2, local)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cohort", type=Path)
    ap.add_argument("--csv", type=Path, help="write every segment's row here")
    args = ap.parse_args()
    local = LocaliseConfig()
    rows = []
    for r, frames, (x0, y0, x1, y1) in decoded_segments(args.cohort):
        h, w = frames.shape[1:3]
        x, y, cw, ch = MotionLocaliser(local).update(frames, TARGET_FPS).crop
        moving = camera_seen_moving(frames, local)
        cut = cuts((x0, y0, x1, y1), (x, y, cw, ch))
        rows.append({"video": r.video, "start": r.start, "label": r.label, "view": r.view, "handheld": int(moving), "whole": int((cw, ch) == (w, h)), "cut": int(cut), "fill": round(max((x1 - x0) / cw, (y1 - y0) / ch), 3)})
    table = pd.DataFrame(rows)
    if args.csv:
        table.to_csv(args.csv, index=False)
    for (view, handheld), g in table.groupby(["view", "handheld"]):
        print(json.dumps({"view": view, "camera": "hand-held" if handheld else "tripod", "segments": len(g), "whole": round(g.whole.mean(), 3), "cut": round(g.cut.mean(), 3), "fill_median": round(float(g.fill.median()), 3)}))


if __name__ == "__main__":
    main()
