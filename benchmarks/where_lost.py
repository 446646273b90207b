"""Where a backbone loses a renderer's cohort: its own spasm head (no fine-tuning) on the same segments drawn four ways.

    .venv/bin/python benchmarks/where_lost.py BACKBONE COHORT [--stream-clips 600] [--all-views]

BACKBONE is a ``pretrain supervised`` folder, COHORT a folder written by ``spasmscope synth``. The segments are the
ones cross-validation tests (children with a spasm), close views by day unless ``--all-views`` (a wide view is cut
around the infant by the localiser, and the stream draws that cut from the generator's own box, so the two are not
the same clip). Each segment is scored as ``evaluate`` scores it (the preset's clips and views, the mean of the
probabilities), from:

- ``pipeline``: the video file, decoded and cut as every segment is (``data.cache.segment_clips``);
- ``drawn``: the same frames drawn straight from the scene (``synth.cohort.drawn_segment``), then the same cut,
  steadying and resizing (``data.cache.frames_to_clips``): what the codec and decoding cost is ``drawn - pipeline``;
- ``drawn_unsteadied``: drawn, the whole frame, not steadied: what the localiser's cut and steadying cost is
  ``drawn_unsteadied - drawn``; ``drawn_cut`` (cut, not steadied) and ``drawn_steadied`` (the whole frame,
  steadied) part that cost between the two;
- ``stream``: fresh clips of the pretraining stream drawn by the cohort's renderer (close views by day, a stream seed
  no run trains on), the clips a backbone learns from: what the cohort's own children and movements cost is
  ``stream - drawn_unsteadied``.

Prints one JSON object with each pooled AUC and its segment or clip counts, then the segments' AUCs again split
by how they were filmed (``handheld``: a phone in hand, ``tripod``: a still camera), as the steadying acts on the
first only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from spasmscope.data.cache import frames_to_clips, segment_clips
from spasmscope.data.preprocess import decode_size, working_size
from spasmscope.data.video import probe
from spasmscope.model.inference import score_clips
from spasmscope.model.weights import load_model
from spasmscope.synth.cohort import drawn_segment, plan_cohort, recorded_config, scene_and_timeline
from spasmscope.synth.stream import StreamConfig, plan_clip, square_clip

PROBE_SEED = 777_777  # a stream seed no pretraining run uses


def tested_segments(cohort: Path, all_views: bool) -> pd.DataFrame:
    """The manifest's rows of children with a spasm; close views by day unless ``all_views``."""
    rows = pd.read_csv(cohort / "manifest.csv")
    rows = rows[rows.child.isin(rows.loc[rows.label == 1, "child"].unique())]
    return rows if all_views else rows[(rows.view == "close") & (rows.recorded_night == 0)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("backbone", type=Path)
    ap.add_argument("cohort", type=Path)
    ap.add_argument("--stream-clips", type=int, default=600, help="stream clips drawn before the close views by day are kept")
    ap.add_argument("--all-views", action="store_true")
    ap.add_argument("--scores", type=Path, help="also write each segment's scores, one column per way, to this CSV")
    args = ap.parse_args()
    model, run, _ = load_model(args.backbone)
    clip, flips = run.clip, run.train.test_flips
    synth = recorded_config(args.cohort)
    plans = {f"{p.folder}/{p.name}": p for p in plan_cohort(synth)}
    rows = tested_segments(args.cohort, args.all_views)
    # The pipeline's cut and steadying, each on or off; the whole frame is brought to its decode size inside, as an
    # uncut segment is.
    drawn_ways = {
        "drawn": clip,
        "drawn_cut": dataclasses.replace(clip, steady=False),
        "drawn_steadied": dataclasses.replace(clip, crop_infant=False),
        "drawn_unsteadied": dataclasses.replace(clip, crop_infant=False, steady=False),
    }
    scores: dict[str, list[float]] = {"pipeline": [], **{way: [] for way in drawn_ways}}
    labels: list[int] = []
    handheld: list[bool] = []
    scored: list[tuple[str, float]] = []
    # One probe and one scene per video, for all of its segments.
    for name, segments in rows.groupby("video", sort=False):
        video = str(args.cohort / name)
        info = probe(video)
        size = (working_size if clip.crop_infant else decode_size)(info.width, info.height, clip)
        scene, timeline = scene_and_timeline(plans[name])
        for row in segments.itertuples(index=False):
            frames = drawn_segment(scene, timeline, float(row.start), float(row.end), size)
            scores["pipeline"].append(float(score_clips(model, segment_clips(video, float(row.start), float(row.end), size, clip), flips).mean()))
            for way, cfg in drawn_ways.items():
                scores[way].append(float(score_clips(model, frames_to_clips(frames, cfg), flips).mean()))
            labels.append(int(row.label))
            handheld.append(bool(plans[name].rec.handheld))
            scored.append((str(name), float(row.start)))
    result: dict[str, object] = {"backbone": str(args.backbone), "cohort": str(args.cohort), "renderer": synth.renderer,
                                 "segments": len(rows), "with_spasm": sum(labels), "all_views": args.all_views}
    result.update({f"auc_{name}": round(float(roc_auc_score(labels, s)), 3) for name, s in scores.items()})
    if args.scores is not None:
        table = pd.DataFrame(scored, columns=["video", "start"]).assign(label=labels, handheld=handheld, **scores)
        table.to_csv(args.scores, index=False)
    y, held = np.asarray(labels), np.asarray(handheld)
    for group, kept in (("handheld", held), ("tripod", ~held)):
        result[f"{group}_segments"], result[f"{group}_with_spasm"] = int(kept.sum()), int(y[kept].sum())
        if 0 < y[kept].sum() < kept.sum():
            result.update({f"{group}_auc_{name}": round(float(roc_auc_score(y[kept], np.asarray(s)[kept])), 3) for name, s in scores.items()})
    stream = StreamConfig(seed=PROBE_SEED, renderers=(synth.renderer,), startle_rate=synth.startle_rate, shifted_look=synth.shifted_look)
    kept, stream_scores = [], []
    for i in range(args.stream_clips):  # 0: the segments only
        plan = plan_clip(stream, i, clip)
        if plan.cropped or (not args.all_views and (plan.rec.night or plan.rec.wide)):
            continue
        drawn = np.stack([plan.scene.render(plan.timeline, int(k)) for k in plan.shown])
        kept.append(plan.label)
        stream_scores.append(float(score_clips(model, square_clip(drawn, clip), flips).mean()))
    result["stream_clips"] = len(kept)
    if 0 < sum(kept) < len(kept):
        result["auc_stream"] = round(float(roc_auc_score(kept, stream_scores)), 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
