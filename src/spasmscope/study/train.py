"""A plain PyTorch loop that fine-tunes a Hiera detector on cached segments.

Reads top to bottom like nanoGPT's: learning rate -> forward/backward -> step -> one JSON line per epoch.
Clips come from the segment cache (``prepare``), so no epoch decodes video.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from spasmscope.data.preprocess import apply_augmentation, normalise, sample_augmentation
from spasmscope.model import distributed, loop
from spasmscope.model.config import TrainConfig
from spasmscope.model.hiera import Hiera
from spasmscope.model.inference import LoadClips, device
from spasmscope.progress import Progress, counter


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
    groups = loop.param_groups(model.named_parameters(), cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9)
    return torch.optim.Adam(groups, lr=cfg.lr)


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
    progress: Progress | None = None,
    stage: str = "train",
) -> list[dict]:
    """Train ``model`` in place on rows ``0..len(labels)-1``; returns the epoch records (also appended as JSON
    lines to ``log``). Raises ``InputError`` when the loss stops being finite, naming the epoch and step.

    ``progress(stage, done, total)`` counts optimiser steps (``steps(cfg, len(labels))`` in all).
    """
    labels_arr = np.asarray(labels, dtype=np.int64)
    dev = device()
    model.to(dev).train()
    set_trainable(model, cfg.freeze)
    opt = _optimizer(model, cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    data = TrainClips(load, labels_arr, cfg)
    use_amp = cfg.amp and dev.type == "cuda"
    processes = distributed.world()
    net = model if processes == 1 else torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    advance = counter(progress, stage, steps(cfg, len(labels_arr)))
    records = []
    for epoch in range(cfg.epochs):
        lr = learning_rate(cfg, epoch)
        loop.set_learning_rate(opt, lr)
        data.epoch = epoch
        order = _epoch_order(labels_arr, cfg, epoch)
        batches = [order[i : i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
        shards = [distributed.shard(b) for b in batches]
        loader = DataLoader(data, batch_sampler=[rows.tolist() for rows, _ in shards], num_workers=workers)
        began, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
        for step, (x, y) in enumerate(loader):
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
                logits = net(x)
            if processes == 1:
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), y)
                counted = torch.ones_like(y)
            else:
                # DDP averages the processes' gradients: each process's sum over its rows, times the number of
                # processes, over the global batch's rows, averages to the gradient of the global batch's mean.
                counted = torch.as_tensor(shards[step][1], dtype=torch.float32, device=dev)
                per_row = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), y, reduction="none")
                loss = (per_row * counted).sum() * processes / len(batches[step])
            loop.check_finite(loss, f"epoch {epoch + 1}, step {step + 1}")
            loop.update(opt, loss, params, cfg.grad_clip)
            loss_sum += loss.item() * len(batches[step]) / processes
            correct += int((((logits.detach() > 0).float() == y).float() * counted).sum())
            seen += int(counted.sum())
            advance()
        loss_sum, correct, seen = distributed.sum_over_processes([loss_sum, correct, seen])
        seconds = time.perf_counter() - began
        record = {"epoch": epoch + 1, "lr": lr, "loss": loss_sum / seen, "accuracy": correct / seen, "clips": int(seen), "seconds": round(seconds, 3), "clips_per_s": round(seen / seconds, 2)}
        records.append(record)
        if log is not None and distributed.is_main():
            loop.append_record(log, record)
    model.eval()
    return records
