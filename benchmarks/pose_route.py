"""The pose route: a real-world pose estimator reads the infant's joints from the video, and a classifier of joint
sequences, trained only on the generator's own joints with a model of the estimator's errors, scores each 5-s segment
(issue "Detection that holds on pictures it never saw", representation).

    python benchmarks/pose_route.py --models DIR --out OUT COHORT/manifest.csv [COHORT2/manifest.csv ...]

Nothing in this route sees a pixel drawn by any renderer of this project before it is tested: the estimator
(BlazePose, trained by Google on photographs of people) reads the cohort's videos as they are, and the classifier
learns from joint positions alone. So every renderer's cohort is a held-out renderer here, and the figure is the
same kind as leave-one-renderer-out's: child-level pooled AUC over the segments of the children with spasms (the
segments that cross-validation tests), beside the AUC over every segment, healthy infants included, and the AUC
of spasm against startle segments. One JSON line per cohort.

What it needs, outside spasmscope's dependencies (this is an experiment, not a part of the package):
    pip install ai-edge-litert==2.3.0
    pip download mediapipe==0.10.21 --no-deps --only-binary=:all: --python-version 3.11 -d wheels
    unzip -j wheels/mediapipe-0.10.21-*.whl mediapipe/modules/pose_landmark/pose_landmark_full.tflite -d DIR
(the mediapipe 0.10.21 wheel is the last that ships the BlazePose models; Apache-2.0.)

Steps:
1. Training sequences: clips of the pretraining stream (``synth.stream.plan_clip``, with startles; a seed no
   pretraining uses), the renderer's key points at the 16 frames a clip shows (``Scene.key_points``), passed
   through a model of what an estimator gets wrong: jitter of each joint, joints found somewhere else entirely,
   left and right swapped in some frames, the nose found off the head's centre.
2. Features that do not depend on how the infant lies in the picture: each joint's distance from the trunk's
   centre in trunk lengths, summarised over time as ``pose_oracle.features`` does; gradient boosting on them.
3. Each cohort segment is decoded as the ``cpu`` preset decodes it, cut around the infant by the project's own
   localiser, at 256 x 256 pixels; BlazePose's landmark model reads each of its 16 frames turned by 0, 90, 180
   and 270 degrees (it expects a person head up; infants lie any way), and the turn whose frames it finds a
   person in most surely is kept.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).parent))
from pose_oracle import features  # noqa: E402

from spasmscope.data.cache import SegmentCache, load_clips, prepare  # noqa: E402
from spasmscope.data.manifest import read_manifest  # noqa: E402
from spasmscope.data.preprocess import ClipConfig  # noqa: E402
from spasmscope.synth.stream import StreamConfig, plan_clip  # noqa: E402

JOINTS = ("head", "shoulder_l", "shoulder_r", "elbow_l", "elbow_r", "hand_l", "hand_r", "hip_l", "hip_r", "knee_l", "knee_r", "foot_l", "foot_r")
# BlazePose's 33 landmarks for the same joints: nose, shoulders, elbows, wrists, hips, knees, ankles.
BLAZEPOSE = (0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
REACHED = ("elbow", "hand", "knee", "foot")  # pose_oracle.PARTS: the joints whose reach the features summarise
TRAIN_SEED = 515_151  # a stream seed no pretraining run uses
SIZE = 256  # BlazePose's landmark model input


def reaches(points: np.ndarray) -> np.ndarray:
    """``[T, 13, 2]`` joints (``JOINTS`` order, pixels) -> ``[T, 9]``: the head's, then each of ``REACHED``'s left
    and right distance from the trunk's centre (the middle of shoulders and hips), in trunk lengths (the median
    over the frames of shoulders' middle to hips' middle): what no turn, shift or zoom of the picture changes."""
    at = {name: points[:, i] for i, name in enumerate(JOINTS)}
    shoulders, hips = (at["shoulder_l"] + at["shoulder_r"]) / 2, (at["hip_l"] + at["hip_r"]) / 2
    centre = (shoulders + hips) / 2
    trunk = max(float(np.median(np.linalg.norm(shoulders - hips, axis=1))), 1e-6)
    cols = [at["head"]] + [at[f"{part}_{side}"] for part in REACHED for side in "lr"]
    return np.stack([np.linalg.norm(c - centre, axis=1) for c in cols], axis=1) / trunk


def estimator_errors(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``[T, 13, 2]`` true joints -> what an estimator might report: a clip-wide jitter level (0-20% of the
    trunk's length), some joints found anywhere near the body (0-15% of them), left and right swapped in some
    frames (0-15%), and the nose up to a third of a trunk away from the head's centre."""
    out = points.copy()
    t, n, _ = out.shape
    shoulders, hips = out[:, 1:3].mean(1), out[:, 7:9].mean(1)
    trunk = float(np.median(np.linalg.norm(shoulders - hips, axis=1)))
    centre = ((shoulders + hips) / 2)[:, None]
    out[:, 0] += rng.uniform(-1, 1, 2) * trunk / 3
    out += rng.normal(0, rng.uniform(0.0, 0.2) * trunk, out.shape)
    wild = rng.uniform(size=(t, n)) < rng.uniform(0.0, 0.15)
    out[wild] = (centre + rng.uniform(-2, 2, (t, n, 2)) * trunk)[wild]
    swapped = rng.uniform(size=t) < rng.uniform(0.0, 0.15)
    pairs = np.arange(1, n, 2)
    out[np.ix_(swapped, np.r_[pairs, pairs + 1])] = out[np.ix_(swapped, np.r_[pairs + 1, pairs])]
    return out


def training_set(clips: int, copies: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of ``clips`` stream clips, each through ``copies`` draws of ``estimator_errors``."""
    stream = StreamConfig(seed=TRAIN_SEED, renderers=("articulated", "shaded"), startle_rate=0.3)
    clip = ClipConfig(frames=16, size=64, crop_infant=True)
    rng = np.random.default_rng(seed)
    x, y = [], []
    for i in range(clips):
        plan = plan_clip(stream, i, clip)
        truth = np.array([[plan.scene.key_points(plan.timeline, int(k))[j] for j in JOINTS] for k in plan.shown])
        for _ in range(copies):
            x.append(features(reaches(estimator_errors(truth, rng)))[0])
            y.append(plan.label)
    return np.array(x), np.array(y)


class BlazePose:
    """BlazePose's full landmark model (``pose_landmark_full.tflite``) under ai-edge-litert."""

    def __init__(self, models: Path, threads: int = 2):
        from ai_edge_litert.interpreter import Interpreter

        self.net = Interpreter(model_path=str(models / "pose_landmark_full.tflite"), num_threads=threads)
        self.net.allocate_tensors()
        self.input = self.net.get_input_details()[0]["index"]
        out = {d["name"]: d["index"] for d in self.net.get_output_details()}
        self.landmarks, self.flag = out["Identity"], out["Identity_1"]

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """``[256, 256, 3] uint8`` -> ``JOINTS``' pixels ``[13, 2]`` and how surely a person is there (0-1)."""
        self.net.set_tensor(self.input, frame[None].astype(np.float32) / 255.0)
        self.net.invoke()
        marks = self.net.get_tensor(self.landmarks).reshape(-1, 5)
        return marks[list(BLAZEPOSE), :2], float(1 / (1 + np.exp(-self.net.get_tensor(self.flag).ravel()[0])))


def read_joints(estimator: BlazePose, frames: np.ndarray) -> tuple[np.ndarray, float]:
    """``[T, 256, 256, 3]`` -> joints ``[T, 13, 2]`` and the estimator's mean certainty. First at the quarter turn
    where the estimator is surest; then, as BlazePose's own tracking does, again on a square around where that
    pass found the body (1.5 times the span of its joints' medians), which fills the model's input with the infant
    that the localiser's crop leaves small. Joints come back in the turned frames' pixels: the features do not
    depend on the turn."""
    best, sure_best, turn = None, -1.0, 0
    for turns in range(4):
        found = [estimator(np.ascontiguousarray(np.rot90(f, turns))) for f in frames]
        sure = float(np.mean([p for _, p in found]))
        if sure > sure_best:
            best, sure_best, turn = np.stack([j for j, _ in found]), sure, turns
    middle = np.median(best, axis=0)  # [13, 2]
    centre = (middle.min(0) + middle.max(0)) / 2
    half = max(float((middle.max(0) - middle.min(0)).max()) * 0.75, SIZE / 8)
    x0, y0 = centre - half
    scale = SIZE / (2 * half)
    # The square in the turned frame, resampled to the model's input (outside the frame: the edge repeated).
    m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float32)
    found = [estimator(cv2.warpAffine(np.ascontiguousarray(np.rot90(f, turn)), m, (SIZE, SIZE), borderMode=cv2.BORDER_REPLICATE)) for f in frames]
    joints = np.stack([j for j, _ in found]) / scale + np.array([x0, y0])
    return joints, float(np.mean([p for _, p in found]))


def auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    return round(float(roc_auc_score(labels, scores)), 3) if len(set(labels.tolist())) == 2 else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("manifests", nargs="+", type=Path)
    ap.add_argument("--models", type=Path, required=True, help="folder holding pose_landmark_full.tflite")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--clips", type=int, default=12000, help="training clips of the stream")
    ap.add_argument("--copies", type=int, default=2, help="estimator-error draws per training clip")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    began = time.perf_counter()
    x, y = training_set(args.clips, args.copies, seed=0)
    cut = int(0.8 * len(y)) // args.copies * args.copies  # clips whole on one side
    model = HistGradientBoostingClassifier(max_iter=400, learning_rate=0.05, random_state=0).fit(x[:cut], y[:cut])
    check = auc(y[cut:], model.predict_proba(x[cut:])[:, 1])
    model.fit(x, y)
    print(json.dumps({"training_clips": args.clips, "copies": args.copies, "generator_auc_held_out": check, "seconds": round(time.perf_counter() - began)}), flush=True)

    estimator = BlazePose(args.models)
    clip_cfg = ClipConfig(frames=16, size=SIZE, crop_infant=True)
    for path in args.manifests:
        began = time.perf_counter()
        manifest = read_manifest(path, require_labels=True)
        cache_root = args.out / f"cache-{path.parent.name}"
        prepare(manifest, cache_root, clip_cfg, workers=1)
        cache = SegmentCache(cache_root, clip_cfg)
        rows = manifest.rows.reset_index(drop=True)
        scores, certainty = [], []
        for row in rows.itertuples(index=False):
            frames = load_clips(cache, row.path, row.start, row.end)[0]
            joints, sure = read_joints(estimator, frames)
            scores.append(float(model.predict_proba(features(reaches(joints))[0][None])[0, 1]))
            certainty.append(sure)
        rows = rows.assign(score=scores, certainty=certainty)
        rows.to_csv(args.out / f"scores-{path.parent.name}.csv", index=False)
        with_spasms = rows[rows.groupby("child")["label"].transform("max") == 1]
        # Spasm against startle over the segments cross-validation tests (children with spasms), as its report does.
        startle = pd.to_numeric(with_spasms["startle"], errors="coerce") == 1 if "startle" in rows else np.zeros(len(with_spasms), bool)  # read as text
        versus = with_spasms[(with_spasms["label"] == 1) | startle]
        print(json.dumps({"cohort": str(path), "segments": len(rows), "auc_children_with_spasms": auc(with_spasms["label"].to_numpy(), with_spasms["score"].to_numpy()),
                          "auc_all_segments": auc(rows["label"].to_numpy(), rows["score"].to_numpy()),
                          "spasm_vs_startle_auc": auc(versus["label"].to_numpy(), versus["score"].to_numpy()),
                          "estimator_certainty_median": round(float(np.median(certainty)), 3), "seconds": round(time.perf_counter() - began)}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
