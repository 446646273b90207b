"""Where a moving camera's steadied movement puts the infant, with the corners' fit alone and refined on every still pixel.

    .venv/bin/python benchmarks/steadying.py COHORT

For every segment of a synthetic cohort whose camera the localiser sees move (``localise.camera_moves``), the
segment is decoded at the working size and localised alone, as ``prepare --crop-infant`` does, twice: with
``LocaliseConfig(refine=False)`` (the default: the similarity fitted to corners followed by optical flow) and with
``refine=True`` (refined on every still pixel, ``steady_paths``). ``steady_min_box`` is set to 0 so the movement's
box is reported however small. Each box is compared with the infant's extent over the segment in ``positions.csv``:
``box_to_infant``, the box's longer side over the extent's (about 1: the box is the infant; 3: it spans the infant
and something far from it), and ``centred``, the share of segments whose box centre lies on the infant's extent.
``ms_per_window``: the localiser's time per segment, one thread. With ``steady_min_box`` at 0 the crop is the one
every floor at or under the movement's extent (``Localisation.steadied_extent``) gives, so for each floor in
``FLOORS`` the line also reports ``cropped_at``, the share of segments the rule would crop, and ``cut_at``, how many
of those crops the infant's extent reaches more than ``segment_crops.SLACK`` pixels past (a segment with no
movement found stays whole and out of ``extent_quantiles``). Prints one JSON line per view and steadying.

A cohort re-filmed by ``benchmarks/rerecord.py --hand`` keeps its positions file, whose boxes then miss the hand's
shake (a few percent of the frame).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import pandas as pd

from segment_crops import camera_seen_moving, cuts, decoded_segments  # this folder's benchmark of crops: the same segments
from spasmscope.data.localise import LocaliseConfig, MotionLocaliser
from spasmscope.data.video import TARGET_FPS


FLOORS = (0.3, 0.25, 0.2)  # values of steady_min_box whose crops are counted (0.3: the default)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cohort", type=Path)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    settings = {"corners": LocaliseConfig(steady_min_box=0.0, refine=False), "refined": LocaliseConfig(steady_min_box=0.0, refine=True)}
    rows = []
    for r, frames, (x0, y0, x1, y1) in decoded_segments(args.cohort):
        if not camera_seen_moving(frames, settings["corners"]):
            continue
        for name, cfg in settings.items():
            start = time.perf_counter()
            found = MotionLocaliser(cfg).update(frames, TARGET_FPS)
            ms = 1000 * (time.perf_counter() - start)
            box, cut = found.box, cuts((x0, y0, x1, y1), found.crop)
            if box is None:
                ratio, centred = float("inf"), False
            else:
                bx, by, bw, bh = box
                ratio = max(bw, bh) / max(x1 - x0, y1 - y0)
                centred = x0 <= bx + bw / 2 <= x1 and y0 <= by + bh / 2 <= y1
            rows.append({"view": r.view, "steadying": name, "box_to_infant": ratio, "centred": centred, "ms": ms, "extent": float("nan") if found.steadied_extent is None else found.steadied_extent, "cut": cut})
    table = pd.DataFrame(rows)
    for (view, name), g in table.groupby(["view", "steadying"], sort=False):
        print(json.dumps({"view": view, "steadying": name, "segments": len(g), "box_to_infant_median": round(float(g.box_to_infant.median()), 2),
                          "centred": round(float(g.centred.mean()), 3), "ms_per_window": round(float(g.ms.median()), 1),
                          "extent_quantiles": {str(q): round(float(g.extent.quantile(q)), 2) for q in (0.05, 0.25, 0.5)},
                          "cropped_at": {str(f): round(float((g.extent >= f).mean()), 2) for f in FLOORS},
                          "cut_at": {str(f): int(g.cut[g.extent >= f].sum()) for f in FLOORS}}))


if __name__ == "__main__":
    main()
