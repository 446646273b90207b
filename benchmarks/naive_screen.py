"""The baseline the screening benchmark compares against: screening written the way a typical research script
does it. OpenCV reads every frame, each frame is resized in a Python loop, each 5-s window (no overlap, no
crop, no quality gate) goes through the model alone (batch 1). Kept here, outside the package, on purpose.

    .venv/bin/python benchmarks/naive_screen.py MODEL VIDEO
"""

from __future__ import annotations

import sys
import time

import cv2
import numpy as np
import torch

from spasmscope.data.preprocess import normalise, resize_clip
from spasmscope.model.scores import probability
from spasmscope.model.weights import load_model


def naive_screen(model_dir: str, video: str) -> tuple[list[float], float]:
    """Scores of consecutive 5-s windows, and the seconds of video read."""
    model, run, _ = load_model(model_dir)
    model.eval()
    cap = cv2.VideoCapture(video)
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    per_window = int(round(5 * fps))
    size = 2 * run.clip.size
    frames, scores, read = [], [], 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        read += 1
        frames.append(cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), (size, size)))
        if len(frames) == per_window:
            clip = resize_clip(np.stack(frames), run.clip.frames, run.clip.size)[None]
            with torch.no_grad():
                scores.append(float(probability(model(normalise(clip)))[0]))
            frames = []
    cap.release()
    return scores, read / fps


if __name__ == "__main__":
    began = time.perf_counter()
    scores, seconds = naive_screen(sys.argv[1], sys.argv[2])
    wall = time.perf_counter() - began
    print(f"{len(scores)} windows, {seconds:.0f} s of video in {wall:.1f} s: {seconds / wall:.1f} s of video per second")
