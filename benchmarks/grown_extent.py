"""Can the steadied movement, grown by colour into the body around it, tell a distant infant from one limb of a near one?

    .venv/bin/python benchmarks/grown_extent.py COHORT

The steadied movement's box alone cannot (``steadying.py``: a wide view's infant and a close view's moving hand give
boxes of the same size). Here each segment whose camera the localiser sees move is localised alone, steadied and
refined as ``steadying.py``'s ``refined`` way (``steady_min_box`` 0), and its movement map seeds GrabCut (OpenCV's
``grabCut``: colour models of foreground and background, a graph cut) on the middle frame at the analysis size: what
moves at 60% of the peak or more is foreground, at 20% likely foreground, the rest likely background. The grown
extent is the longer side of the 2-98% quantile box of the foreground pieces that hold movement, as a share of the
frame's short side, as ``Localisation.steadied_extent`` is. If growth follows the body, a close view's grown extent is
its whole infant's (about 0.6 of the short side) and a wide view's stays small, and a floor between them could crop
the wide views without cutting a close infant.

Prints one JSON line per view: segments, the quantiles (5, 25, 50, 75, 95%) of the infant's true extent (the
generator's ``positions.csv``, as ``steadying.py`` reads it), of the movement's and of the grown extent, and the
median of grown over true. One thread.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from segment_crops import camera_seen_moving, decoded_segments  # this folder's benchmark of crops: the same segments
from spasmscope.data.localise import Localisation, LocaliseConfig, MotionLocaliser, analysis_size
from spasmscope.data.video import TARGET_FPS

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


class _Kept(MotionLocaliser):
    """The motion localiser, keeping a moving camera's steadied movement map ``[h, w] float32`` (analysis pixels of the
    middle frame) for the benchmark to grow."""

    movement: np.ndarray | None = None

    def _steadied(self, movement: np.ndarray, paths: np.ndarray, width: int, height: int) -> Localisation:
        self.movement = movement
        return super()._steadied(movement, paths, width, height)


def grown_extent(middle: np.ndarray, movement: np.ndarray) -> float | None:
    """The longer side of the box GrabCut grows from ``movement`` ``[h, w]`` on ``middle`` ``[h, w, 3] uint8`` (RGB,
    the same size), as a share of the short side; None when nothing moves or the cut fails."""
    peak = float(movement.max())
    if peak <= 0:
        return None
    mask = np.full(movement.shape, cv2.GC_PR_BGD, np.uint8)
    mask[movement >= 0.2 * peak] = cv2.GC_PR_FGD
    mask[movement >= 0.6 * peak] = cv2.GC_FGD
    try:
        cv2.grabCut(cv2.cvtColor(middle, cv2.COLOR_RGB2BGR), mask, None, np.zeros((1, 65)), np.zeros((1, 65)), 4, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return None
    fore = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    _, pieces = cv2.connectedComponents(fore)
    moving = np.unique(pieces[(movement >= 0.2 * peak) & (fore > 0)])
    ys, xs = np.nonzero(np.isin(pieces, moving[moving > 0]))
    if not len(xs):
        return None
    (x0, x1), (y0, y1) = np.quantile(xs, [0.02, 0.98]), np.quantile(ys, [0.02, 0.98])
    return float(max(x1 - x0, y1 - y0)) / min(movement.shape)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cohort", type=Path)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    cfg = LocaliseConfig(steady_min_box=0.0, refine=True)
    rows = []
    for r, frames, (x0, y0, x1, y1) in decoded_segments(args.cohort):
        if not camera_seen_moving(frames, cfg):
            continue
        localiser = _Kept(cfg)
        found = localiser.update(frames, TARGET_FPS)
        h, w = frames.shape[1:3]
        aw, ah = analysis_size(w, h, cfg)
        true = max(x1 - x0, y1 - y0) * aw / w / min(aw, ah)
        grown = None
        if localiser.movement is not None:
            grown = grown_extent(cv2.resize(frames[len(frames) // 2], (aw, ah), interpolation=cv2.INTER_AREA), localiser.movement)
        rows.append({"view": r.view, "true": true, "movement": found.steadied_extent, "grown": grown})
    table = pd.DataFrame(rows).astype({"movement": float, "grown": float})
    for view, g in table.groupby("view", sort=False):
        print(json.dumps({"view": view, "segments": len(g), **{k: [round(float(g[k].quantile(q)), 2) for q in QUANTILES] for k in ("true", "movement", "grown")},
                          "grown_over_true_median": round(float((g.grown / g.true).median()), 2)}))


if __name__ == "__main__":
    main()
