"""What each part of a renderer's look costs a backbone: its own spasm head (no fine-tuning) on the same segments,
each drawn again with one thing of the look changed and the same movements.

    .venv/bin/python benchmarks/look_cost.py BACKBONE COHORT [--scores CSV]

BACKBONE is a ``pretrain supervised`` folder, COHORT a folder written by ``spasmscope synth``. The segments are
``where_lost.py``'s (children with a spasm, close views by day), scored as that script's ``drawn_unsteadied`` way
scores them: drawn straight from the scene at the working size, the whole frame, not steadied, the preset's clips
and views, the mean of the probabilities. Each is drawn five ways:

- ``drawn``: as the cohort draws it (``where_lost.py``'s ``drawn_unsteadied``);
- ``plain``: the articulated figure's blanket without its pattern (``ChildLook.pattern = 0``; the other renderers
  print their sheets their own way, so for them it changes only what shows of that blanket around their sheet);
- ``tripod``: the phone on a tripod (``Recording.handheld = False``);
- ``plain_tripod``: both;
- ``sharp``: no softness (``Recording.blur = 0``).

The timeline (every movement) is the cohort's own in all five; only the scene is drawn again. A way that lifts a
held-out arm's AUC well above ``drawn``, while a backbone that saw the renderer moves less, names a part of the
look that the arm's renderers do not teach. Prints one JSON object: each way's pooled AUC, over all segments and over
the hand-held ones, and, where the cohort has a ``movements.csv``, the AUC of the spasm segments against the
spasm-free ones holding each movement (``auc_by_movement``, per way); ``--scores`` writes each segment's scores with
its child's pattern (0 plain, 1 stripes, 2 checks, 3 dots).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from spasmscope.data.cache import frames_to_clips
from spasmscope.data.manifest import read_movements
from spasmscope.data.movements import spasm_against_movements
from spasmscope.data.preprocess import working_size
from spasmscope.data.video import probe
from spasmscope.model.inference import score_clips
from spasmscope.model.weights import load_model
from spasmscope.synth.cohort import drawn_segment, plan_cohort, recorded_config, scene_and_timeline
from spasmscope.synth.look import ChildLook, Recording
from spasmscope.synth.renderers import renderer

sys.path.insert(0, str(Path(__file__).parent))
from where_lost import tested_segments  # noqa: E402

Change = Callable[[ChildLook, Recording], tuple[ChildLook, Recording]]
WAYS: dict[str, Change] = {
    "drawn": lambda look, rec: (look, rec),
    "plain": lambda look, rec: (dataclasses.replace(look, pattern=0), rec),
    "tripod": lambda look, rec: (look, dataclasses.replace(rec, handheld=False)),
    "plain_tripod": lambda look, rec: (dataclasses.replace(look, pattern=0), dataclasses.replace(rec, handheld=False)),
    "sharp": lambda look, rec: (look, dataclasses.replace(rec, blur=0.0)),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("backbone", type=Path)
    ap.add_argument("cohort", type=Path)
    ap.add_argument("--scores", type=Path, help="also write each segment's scores, one column per way, to this CSV")
    args = ap.parse_args()
    model, run, _ = load_model(args.backbone)
    whole = dataclasses.replace(run.clip, crop_infant=False, steady=False)
    plans = {f"{p.folder}/{p.name}": p for p in plan_cohort(recorded_config(args.cohort))}
    scores: dict[str, list[float]] = {way: [] for way in WAYS}
    rows: list[tuple[str, float, float, int, bool, int]] = []
    for name, segments in tested_segments(args.cohort, False).groupby("video", sort=False):
        plan = plans[name]
        info = probe(str(args.cohort / name))
        size = working_size(info.width, info.height, run.clip)  # as where_lost.py draws them
        _, timeline = scene_and_timeline(plan)  # the movements, as the cohort drew them
        for way, change in WAYS.items():
            look, rec = change(plan.look, plan.rec)
            # A scene is drawn from the plan's seed, as scene_and_timeline draws it, with the one change.
            scene = renderer(plan.renderer)(look, rec, np.random.default_rng(plan.seed))
            for row in segments.itertuples(index=False):
                frames = drawn_segment(scene, timeline, float(row.start), float(row.end), size)
                scores[way].append(float(score_clips(model, frames_to_clips(frames, whole), run.train.test_flips).mean()))
        rows += [(str(name), float(row.start), float(row.end), int(row.label), bool(plan.rec.handheld), plan.look.pattern) for row in segments.itertuples(index=False)]
    table = pd.DataFrame(rows, columns=["video", "start", "end", "label", "handheld", "pattern"]).assign(**scores)
    if args.scores is not None:
        table.to_csv(args.scores, index=False)
    result: dict[str, object] = {"backbone": str(args.backbone), "cohort": str(args.cohort), "segments": len(table),
                                 "with_spasm": int(table.label.sum()), "handheld_segments": int(table.handheld.sum())}
    held = table[table.handheld]
    result.update({f"auc_{way}": round(float(roc_auc_score(table.label, table[way])), 3) for way in WAYS})
    if held.label.nunique() == 2:  # both classes among the hand-held segments
        result.update({f"handheld_auc_{way}": round(float(roc_auc_score(held.label, held[way])), 3) for way in WAYS})
    if (args.cohort / "movements.csv").is_file():
        movements = read_movements(args.cohort / "movements.csv")
        result["auc_by_movement"] = {
            way: {kind: None if v["auc"] is None else round(v["auc"], 3) for kind, v in spasm_against_movements(table.assign(score=table[way]), movements, 0.5)["by_kind"].items()}
            for way in WAYS
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
