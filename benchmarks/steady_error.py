"""How well the pipeline's steadying finds the camera: its maps from each tap to the middle tap against the generator's
own camera, on a synth cohort's hand-held close views by day.

    .venv/bin/python benchmarks/steady_error.py COHORT [--segments 40]

COHORT is a folder written by ``spasmscope synth``. Each segment (of children with a spasm, as cross-validation tests
them) is drawn straight from its scene at the working size (``synth.cohort.drawn_segment``, no codec); the taps a clip
reads are mapped onto the middle tap by ``localise.steady_paths`` as ``localise.steady_taps`` maps them, and by the
generator's camera (``Scene.camera``). The error is the median distance between the two maps' images of a 9 x 9 grid
over the frame, as a share of the short side (%): per segment its median and largest over the taps. ``shake`` is how far
the camera itself moved the grid (median over the taps). Prints one JSON object: the medians over segments without and
with a spasm, the share of segments the steadying acts on (a moving camera), and the worst segments.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from spasmscope.data.localise import LocaliseConfig, analysis_grey, analysis_size, camera_moves, steady_paths
from spasmscope.data.preprocess import clip_taps, working_size
from spasmscope.data.video import probe
from spasmscope.model.config import preset
from spasmscope.synth.cohort import drawn_segment, plan_cohort, recorded_config, scene_and_timeline, segment_frames

sys.path.insert(0, str(Path(__file__).parent))
from where_lost import tested_segments  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cohort", type=Path)
    ap.add_argument("--segments", type=int, default=40, help="hand-held segments measured, in manifest order")
    args = ap.parse_args()
    clip, local = preset("cpu").clip, LocaliseConfig()
    plans = {f"{p.folder}/{p.name}": p for p in plan_cohort(recorded_config(args.cohort))}
    rows = tested_segments(args.cohort, all_views=False)
    rows = rows[[plans[v].rec.handheld for v in rows.video]].head(args.segments)
    found = []
    for name, segments in rows.groupby("video", sort=False):
        plan = plans[name]
        info = probe(str(args.cohort / name))
        size = working_size(info.width, info.height, clip)
        scene, timeline = scene_and_timeline(plan)
        for row in segments.itertuples(index=False):
            frames = drawn_segment(scene, timeline, float(row.start), float(row.end), size)
            taps = clip_taps(len(frames), clip)
            aw, ah = analysis_size(frames.shape[2], frames.shape[1], local)
            grey = np.stack([analysis_grey(frames[i], (aw, ah)) for i in taps])
            moving = camera_moves(grey[::2].astype(np.float32), 1, local)
            # The timeline frame each tap shows, and the generator's camera there in analysis pixels.
            shown = segment_frames(timeline, float(row.start), float(row.end))[taps]
            to_analysis = np.diag([aw / scene.w, ah / scene.h, 1.0])
            cameras = [to_analysis @ np.vstack([scene.camera(timeline, int(k)), [0, 0, 1]]) @ np.linalg.inv(to_analysis) for k in shown]
            middle = cameras[len(cameras) // 2]
            grid = np.stack(np.meshgrid(np.linspace(0, aw, 9), np.linspace(0, ah, 9)), -1).reshape(-1, 2)
            points = np.c_[grid, np.ones(len(grid))]
            errors, shakes = [], []
            for fitted, camera in zip(steady_paths(grey), cameras):
                true = (middle @ np.linalg.inv(camera))[:2]
                errors.append(np.median(np.linalg.norm(points @ fitted.T - points @ true.T, axis=1)))
                shakes.append(np.median(np.linalg.norm(points @ true.T - grid, axis=1)))
            side = 100 / min(aw, ah)
            found.append({"video": str(name), "start": float(row.start), "label": int(row.label), "moving": bool(moving),
                          "error": round(side * float(np.median(errors)), 3), "error_max": round(side * float(np.max(errors)), 3),
                          "shake": round(side * float(np.median(shakes)), 3)})  # fmt: skip
    table = pd.DataFrame(found)
    by_label = table.groupby("label")[["error", "error_max", "shake"]].median().round(3)
    result = {"cohort": str(args.cohort), "segments": len(table), "moving_share": round(float(table.moving.mean()), 3),
              "without_spasm": by_label.loc[0].to_dict() if 0 in by_label.index else None,
              "with_spasm": by_label.loc[1].to_dict() if 1 in by_label.index else None,
              "worst": table.sort_values("error", ascending=False).head(5).to_dict("records")}  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
