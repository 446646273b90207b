"""A plain PyTorch loop that fine-tunes a Hiera detector on cached segments, and scores segments with it.

Reads top to bottom like nanoGPT's: learning rate -> forward/backward -> step -> one JSON line per epoch.
Clips come from the segment cache (``prepare``), so no epoch decodes video.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from spasmscope.config import TrainConfig
from spasmscope.errors import InputError
from spasmscope.hiera import Hiera
from spasmscope.preprocess import Augmentation, apply_augmentation, normalise, sample_augmentation
from spasmscope.scores import probability

LoadClips = Callable[[int], np.ndarray]  # row index -> uint8 [K, T, S, S, 3]

# Test-time views of ``TrainConfig.test_flips``: as it is, mirrored left-right, upside down, and both (turned half
# round). Quarter turns are left out: with them the stage-3 cpu backbone lost 0.014 of zero-shot AUC on the demo
# cohort, where the four flips gained 0.013 (and 0.015 on the shifted-look cohort; MODEL_CARD.md).
TEST_FLIPS = (Augmentation(), Augmentation(hflip=True), Augmentation(vflip=True), Augmentation(hflip=True, vflip=True))


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TrainClips(Dataset):
    """Row ``i`` of an epoch -> (``[3, T, S, S]`` float clip, label). The augmentation and, in ``clips`` mode,
    which clip is used are drawn from ``(seed, epoch, i)``, so a run replays exactly whatever the loader workers."""

    def __init__(self, load: LoadClips, labels: np.ndarray, cfg: TrainConfig):
        self.load, self.labels, self.cfg = load, labels, cfg
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.cfg.seed, self.epoch, i])
        clips = self.load(i)
        clip = clips[rng.integers(len(clips))]
        if self.cfg.augment:
            clip = apply_augmentation(clip, sample_augmentation(rng, self.cfg.augment_p))
        return normalise(clip), torch.tensor(float(self.labels[i]))


def _epoch_order(labels: np.ndarray, cfg: TrainConfig, epoch: int) -> np.ndarray:
    """Row indices for one epoch: a permutation, or with ``balance`` as many draws as rows, half from each class."""
    rng = np.random.default_rng([cfg.seed, epoch, 7])
    if not cfg.balance or labels.min() == labels.max():
        return rng.permutation(len(labels))
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    n = len(labels)
    return rng.permutation(np.concatenate([rng.choice(pos, n // 2), rng.choice(neg, n - n // 2)]))


def set_trainable(model: Hiera, freeze: str) -> None:
    """``none``: everything trains; ``backbone``: only the head (linear probe); ``early``: the patch embedding,
    position embeddings and the first two stages stay fixed."""
    for name, p in model.named_parameters():
        if freeze == "backbone":
            p.requires_grad = name.startswith("head.")
        elif freeze == "early":
            first_two = sum(model.cfg.stages[:2])
            early = name.startswith(("patch_embed.", "pos_embed")) or (name.startswith("blocks.") and int(name.split(".")[1]) < first_two)
            p.requires_grad = not early
        else:
            p.requires_grad = True


def _optimizer(model: Hiera, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def learning_rate(cfg: TrainConfig, epoch: int) -> float:
    """Step decay (paper): ``lr * lr_gamma ** (epoch // lr_step)``, epochs counted from 0."""
    return cfg.lr * cfg.lr_gamma ** (epoch // cfg.lr_step)


def steps(cfg: TrainConfig, rows: int) -> int:
    """Optimiser steps of a whole training run on ``rows`` rows (the last batch of an epoch may be short)."""
    return cfg.epochs * math.ceil(rows / cfg.batch_size)


def fit(
    model: Hiera,
    load: LoadClips,
    labels: Sequence[int],
    cfg: TrainConfig,
    log: Path | None = None,
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """Train ``model`` in place on rows ``0..len(labels)-1``; returns the epoch records (also appended as JSON
    lines to ``log``). Raises ``InputError`` when the loss stops being finite, naming the epoch and step.

    ``progress(1)`` is called after every optimiser step (``steps(cfg, len(labels))`` in all).
    """
    labels_arr = np.asarray(labels, dtype=np.int64)
    dev = device()
    model.to(dev).train()
    set_trainable(model, cfg.freeze)
    opt = _optimizer(model, cfg)
    data = TrainClips(load, labels_arr, cfg)
    use_amp = cfg.amp and dev.type == "cuda"
    records = []
    for epoch in range(cfg.epochs):
        lr = learning_rate(cfg, epoch)
        for group in opt.param_groups:
            group["lr"] = lr
        data.epoch = epoch
        loader = DataLoader(data, batch_size=cfg.batch_size, sampler=_epoch_order(labels_arr, cfg, epoch).tolist(), num_workers=workers)
        began, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
        for step, (x, y) in enumerate(loader):
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
                logits = model(x)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), y)
            if not torch.isfinite(loss):
                raise InputError(None, f"training loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}", "lower the learning rate (--lr) or check the input clips")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(y)
            correct += int(((logits.detach() > 0).float() == y).sum())
            seen += len(y)
            if progress is not None:
                progress(1)
        seconds = time.perf_counter() - began
        record = {"epoch": epoch + 1, "lr": lr, "loss": loss_sum / seen, "accuracy": correct / seen, "clips": seen, "seconds": round(seconds, 3), "clips_per_s": round(seen / seconds, 2)}
        records.append(record)
        if log is not None:
            with open(log, "a") as f:  # an append per epoch: a killed run keeps the epochs it finished
                f.write(json.dumps(record) + "\n")
    model.eval()
    return records


@torch.no_grad()
def score_clips(model: Hiera, clips: np.ndarray, flips: bool = False) -> np.ndarray:
    """Spasm probability of each clip of ``[N, T, S, S, 3] uint8``: ``[N] float``. With ``flips``, the mean of the
    probabilities of the ``TEST_FLIPS`` views of the clip (test-time augmentation). The model is on ``device()``."""
    views = TEST_FLIPS if flips else TEST_FLIPS[:1]
    dev = device()
    total = np.zeros(len(clips))
    # One forward pass per view, not one over all views stacked: the four-times-larger batch took screening of a
    # 60-minute recording to a peak of 1,049 MiB (711 MiB this way) and was no faster (4 min 36 s against 4 min 19 s).
    for view in views:
        x = normalise(apply_augmentation(clips, view)).to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            total += probability(model(x)).cpu().numpy().reshape(len(clips))
    return total / len(views)


@torch.no_grad()
def predict(
    model: Hiera, load: LoadClips, n: int, batch_size: int = 8, flips: bool = False, progress: Callable[[int], None] | None = None
) -> np.ndarray:
    """Spasm probability of rows ``0..n-1``: ``[n] float``, the mean over a row's clips in ``clips`` mode (and over
    the flipped views with ``flips``, see ``score_clips``)."""
    model.to(device()).eval()
    scores = np.empty(n, dtype=np.float64)
    i = 0
    while i < n:
        rows = list(range(i, min(i + batch_size, n)))
        clips = [load(r) for r in rows]
        counts = [len(c) for c in clips]
        p = score_clips(model, np.concatenate(clips), flips)
        scores[i : i + len(rows)] = [chunk.mean() for chunk in np.split(p, np.cumsum(counts)[:-1])]
        if progress is not None:
            progress(len(rows))
        i += len(rows)
    return scores
