"""Is the synthetic spasm task learnable at all from what a clip shows? A probe with the generator's own truth.

    .venv/bin/python benchmarks/pose_oracle.py [--clips 8000] [--shifted-look]

For clips of the pretraining stream (``synth.stream.plan_clip``, full difficulty, a seed no run trains on), it
takes where the drawn body parts are at the 16 frames a `cpu`-preset clip shows (the renderer's own key points:
head, elbows, hands, knees and feet, as distances from the trunk's centre in body units, what a perfect 2D pose
estimator would give), summarises them over time and fits scikit-learn's gradient boosting on three quarters of
the clips. Prints the held-out AUC of two probes as one JSON object:

- ``posture``: per key point, both sides' sum and difference (extremes, median) and the fastest change between
  shown frames, beside the movement features below. Near 1 means the answer is drawn in the frames the model
  sees; the gap to a backbone's AUC is what reading the posture from 64x64 pixels loses.
- ``movement``: only how fast things move (each key point's speed, without the sum and difference of the
  sides), the cue the generator's confounders are built to mislead.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from spasmscope.model.config import preset
from spasmscope.synth.stream import ClipPlan, StreamConfig, plan_clip

PARTS = ("elbow", "hand", "knee", "foot")
PROBE_SEED = 424_242  # a stream seed no pretraining run uses


def features(reach: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``reach`` ``[T, 1 + 2 x len(PARTS)]``: the head's, then each part's left and right distance from the trunk's
    centre at the shown frames -> (posture and movement features, movement features alone)."""
    left, right = reach[:, 1::2], reach[:, 2::2]
    both = np.concatenate([reach[:, :1], left + right], axis=1)
    apart = np.abs(left - right)
    speed = np.abs(np.diff(reach, axis=0))
    moving = np.concatenate([speed.max(0), speed.mean(0)])
    posture = np.concatenate([both.max(0), both.min(0), np.median(both, 0), apart.mean(0), apart.max(0), np.abs(np.diff(both, axis=0)).max(0)])
    return np.concatenate([posture, moving]), moving


def reaches(plan: ClipPlan) -> np.ndarray:
    """The renderer's key points of the shown frames as distances from the trunk's centre, body units."""
    rows = []
    for k in plan.shown:
        pts = plan.scene.skeleton(plan.timeline.pose[k])
        rows.append([np.hypot(*pts["head"])] + [np.hypot(*pts[f"{part}_{side}"]) for part in PARTS for side in "lr"])
    return np.array(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=8000)
    ap.add_argument("--shifted-look", action="store_true")
    args = ap.parse_args()
    clip = preset("cpu").clip
    stream = StreamConfig(seed=PROBE_SEED, shifted_look=args.shifted_look)
    full, moving, labels = [], [], []
    for i in range(args.clips):
        plan = plan_clip(stream, i, clip)
        f, m = features(reaches(plan))
        full.append(f)
        moving.append(m)
        labels.append(plan.label)
    y, cut = np.array(labels), int(0.75 * args.clips)
    result: dict[str, float | int | bool] = {"clips": args.clips, "held_out": args.clips - cut, "shifted_look": args.shifted_look}
    for name, x in (("posture", np.array(full)), ("movement", np.array(moving))):
        model = HistGradientBoostingClassifier(max_iter=400, learning_rate=0.05, random_state=0).fit(x[:cut], y[:cut])
        result[f"{name}_auc"] = round(float(roc_auc_score(y[cut:], model.predict_proba(x[cut:])[:, 1])), 4)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
