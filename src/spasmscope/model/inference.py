"""Scoring clips with a trained model: the one inference path of ``cv``, ``evaluate``, ``screen`` and benchmarks.

Probabilities come from ``scores.probability``; with ``flips`` a clip is also scored mirrored and upside down and
the probabilities averaged (test-time augmentation, ``TrainConfig.test_flips``).
"""

from __future__ import annotations

import platform
from collections.abc import Callable

import numpy as np
import torch

from spasmscope.data.preprocess import Augmentation, apply_augmentation, normalise
from spasmscope.model.hiera import Hiera
from spasmscope.model.scores import probability, temper
from spasmscope.progress import Progress, counter

LoadClips = Callable[[int], np.ndarray]  # row index -> uint8 [K, T, S, S, 3]

# Test-time views of ``TrainConfig.test_flips``: as it is, mirrored left-right, upside down, and both (turned half
# round). Quarter turns are left out: they cost the cpu backbone zero-shot AUC where the flips gain it (MODEL_CARD.md).
TEST_FLIPS = (Augmentation(), Augmentation(hflip=True), Augmentation(vflip=True), Augmentation(hflip=True, vflip=True))


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name() -> str:
    """Where ``device()`` computes, as a figure's record says it: ``"cuda: <GPU name>"``, or on a CPU
    ``"cpu: <processor>, <vector instructions torch uses>"``. The processor is named because a pretraining run repeats
    to the last digit only on the same kind of processor with the same threads (BENCHMARKS.md, 2026-12-07)."""
    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name()}"
    return f"cpu: {processor_name()}, {torch.backends.cpu.get_cpu_capability()}"


def processor_name() -> str:
    """The CPU's model as Linux names it (``/proc/cpuinfo``), else as ``platform`` does (often just the
    architecture)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown processor"


@torch.no_grad()
def score_clips(model: Hiera, clips: np.ndarray, flips: bool = False) -> np.ndarray:
    """Spasm probability of each clip of ``[N, T, S, S, 3] uint8``: ``[N] float``. With ``flips``, the mean of the
    probabilities of the ``TEST_FLIPS`` views of the clip (test-time augmentation). The model is on ``device()``."""
    views = TEST_FLIPS if flips else TEST_FLIPS[:1]
    dev = device()
    total = np.zeros(len(clips))
    # One forward pass per view, not one over all views stacked: the four-times-larger batch raises screening's peak
    # memory by half and is no faster (BENCHMARKS.md).
    for view in views:
        x = normalise(apply_augmentation(clips, view)).to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            total += probability(model(x)).cpu().numpy().reshape(len(clips))
    return total / len(views)


@torch.no_grad()
def predict(
    model: Hiera, load: LoadClips, n: int, batch_size: int = 8, flips: bool = False, progress: Progress | None = None, stage: str = "score segments",
    temperature: float = 1.0,
) -> np.ndarray:
    """Spasm probability of rows ``0..n-1``: ``[n] float``, the mean over a row's clips in ``clips`` mode (and over
    the flipped views with ``flips``, see ``score_clips``), tempered by the model's ``temperature``
    (``scores.temper``; 1 leaves it as it is)."""
    model.to(device()).eval()
    advance = counter(progress, stage, n)
    scores = np.empty(n, dtype=np.float64)
    i = 0
    while i < n:
        rows = list(range(i, min(i + batch_size, n)))
        clips = [load(r) for r in rows]
        counts = [len(c) for c in clips]
        p = score_clips(model, np.concatenate(clips), flips)
        scores[i : i + len(rows)] = temper(np.array([chunk.mean() for chunk in np.split(p, np.cumsum(counts)[:-1])]), temperature)
        advance(len(rows))
        i += len(rows)
    return scores
