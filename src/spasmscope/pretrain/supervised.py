"""Supervised pretraining of a Hiera backbone on labelled synthetic clips drawn on the fly (METHOD §4).

A detector fine-tuned from random weights on a few hundred segments barely learns; the paper's
backbone had seen Kinetics-400 first. Here the backbone first learns what a spasm looks like from a
stream of synthetic clips (``synth.stream``: every clip a new child and recording), and is then
fine-tuned on the user's cohort like any other starting weights (``--weights BACKBONE``).

Labels are free in the stream, so the backbone is taught more than "spasm or not": a dense head reads
the last stage's tokens per time step and predicts, for every frame, the spasm's contraction level and
the infant's joint angles (and, with ``movement`` > 0, which other movements are under way): from random weights
the one-logit loss alone stays at chance for longer than a CPU run can afford, and the dense targets are what move
it (MODEL_CARD.md). The dense head is discarded after pretraining, as an MAE decoder is.

The loop reads top to bottom: learning rate (linear warm-up, cosine decay) -> forward/backward ->
clipped step -> every ``eval_every`` steps an AUC on a fixed validation stream, one JSON line, and a
checkpoint, from which a killed run resumes at the same clip it would have drawn next.

The model trains on a GPU where there is one (``inference.device``) and each log line names it; clips are always
drawn on the CPU by the loader's workers. A checkpoint is read onto the CPU and then into the model wherever it is,
so a run started on a GPU resumes on a CPU and the other way round.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from spasmscope.data.batch import default_workers
from spasmscope.data.preprocess import (
    ClipConfig,
    apply_augmentation,
    apply_colour_jitter,
    apply_degradation,
    apply_texture,
    apply_zoom,
    normalise,
    sample_augmentation,
    sample_colour_jitter,
    sample_degradation,
    sample_texture,
    sample_zoom,
)
from spasmscope.errors import InputError
from spasmscope.model import loop
from spasmscope.model.config import RunConfig
from spasmscope.model.hiera import Hiera
from spasmscope.model.inference import device, device_name
from spasmscope.model.weights import SPASM_HEAD, load_backbone, save_model
from spasmscope.pretrain.recipe import PretrainConfig, check_pairs
from spasmscope.progress import Progress, counter
from spasmscope.synth.look import N_POSE
from spasmscope.synth.motion import MOVEMENT_KINDS
from spasmscope.synth.stream import StreamConfig, movement_rates, sample_clip

STATE_FILE = "resume.pt"  # optimiser state and step, read back with weights_only=True (no code)
LOG_FILE = "pretrain.jsonl"
VAL_SEED_OFFSET = 1_000_000  # the validation stream: same settings, another seed, never trained on
AUGMENT_TAG = 0xA06  # first word of a training clip's augmentation entropy, apart from the clip's own
COLOUR_TAG = 0xC01  # the same for its colour jitter, so turning it on leaves every other draw as it was
ZOOM_TAG = 0x200  # the same for its zoom
DEGRADE_TAG = 0x300  # the same for its sensor and codec
TEXTURE_TAG = 0x400  # the same for its random convolution


def easy_share(cfg: PretrainConfig, step: int) -> float:
    """Probability that a clip of ``step`` is drawn easy: 1 at the start, falling linearly to ``easy_floor``
    over the first ``curriculum`` share of the steps (from random weights, even a 3D CNN barely moves on the
    full-difficulty stream in 10,000 clips; easy clips teach what a spasm looks like first)."""
    span = cfg.curriculum * cfg.steps
    if span <= 0:
        return cfg.easy_floor
    return max(cfg.easy_floor, 1.0 - (1.0 - cfg.easy_floor) * step / span)


def learning_rate(cfg: PretrainConfig, step: int) -> float:
    return loop.warmup_cosine(cfg.lr, cfg.warmup, cfg.steps, step)


class StreamClips(Dataset):
    """Clip ``start + i`` of a stream -> (``[3, T, S, S]`` float clip, label ``[]``, contraction ``[T]``, pose
    ``[T, N_POSE]``, pose weight ``[]``, movements ``[T, len(MOVEMENT_KINDS)]``); any worker draws the same clip for
    ``i``. With a ``recipe``, clip ``j`` belongs to step ``j // batch_size``, follows its curriculum and gets its
    augmentations (``augment_p``), then its zoom (``zoom_p``), then its colour jitter (``colour_p``), then its random
    convolution (``texture_p``), then its sensor and codec (``degrade_p``).

    Turns and inversion leave the body's own joint angles as they were; a mirror image (one flip) swaps the
    infant's sides, so such a clip's pose weight is 0 and it teaches the label and the contraction only.

    With ``recipe.invariance`` > 0, items come in pairs: items ``2k`` and ``2k + 1`` are stream clip ``start + 2k``
    (so half as many movements per step), the second drawn by another renderer (``sample_clip``'s ``redraw``); the
    pair shares its augmentations and zoom, which move the picture, and gets a colour jitter, random convolution and
    sensor each."""

    def __init__(self, stream: StreamConfig, clip: ClipConfig, start: int, n: int, recipe: PretrainConfig | None = None):
        self.stream, self.clip, self.start, self.n, self.recipe = stream, clip, start, n, recipe

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        j = self.start + i
        easy = easy_share(self.recipe, j // self.recipe.batch_size) if self.recipe is not None else 0.0
        paired = self.recipe is not None and self.recipe.invariance > 0
        shared = j - j % 2 if paired else j  # the stream clip, and the draws that move the picture
        c = sample_clip(self.stream, shared, self.clip, easy, redraw=paired and j % 2 == 1)
        clip, pose_weight = c.clip[0], 1.0
        if self.recipe is not None and self.recipe.augment_p > 0:
            aug = sample_augmentation(np.random.default_rng([AUGMENT_TAG, self.stream.seed, shared]), self.recipe.augment_p)
            clip, pose_weight = apply_augmentation(clip, aug), float(aug.hflip == aug.vflip)
        if self.recipe is not None and self.recipe.zoom_p > 0:
            clip = apply_zoom(clip, sample_zoom(np.random.default_rng([ZOOM_TAG, self.stream.seed, shared]), self.recipe.zoom_p))
        if self.recipe is not None and self.recipe.colour_p > 0:
            jitter = sample_colour_jitter(np.random.default_rng([COLOUR_TAG, self.stream.seed, j]), self.recipe.colour_p)
            clip = apply_colour_jitter(clip, jitter)
        if self.recipe is not None and self.recipe.texture_p > 0:
            clip = apply_texture(clip, sample_texture(np.random.default_rng([TEXTURE_TAG, self.stream.seed, j]), self.recipe.texture_p))
        if self.recipe is not None and self.recipe.degrade_p > 0:
            clip = apply_degradation(clip, sample_degradation(np.random.default_rng([DEGRADE_TAG, self.stream.seed, j]), self.recipe.degrade_p))
        label, pose_weight = torch.tensor(float(c.label)), torch.tensor(pose_weight)
        return normalise(clip), label, torch.from_numpy(c.contraction), torch.from_numpy(c.pose), pose_weight, torch.from_numpy(c.movements)


class DenseHead(nn.Module):
    """Per-frame predictions from the last stage's tokens: ``[B, t*h*w, C]`` -> ``[B, T, 1 + N_POSE + kinds]``
    (contraction logit, joint angles in units of ``pose_scale``, then one logit per movement kind when ``kinds``
    > 0). Tokens are averaged over space per time step; each time step predicts the ``T / t`` frames it covers."""

    def __init__(self, model: Hiera, kinds: int = 0):
        super().__init__()
        self.grid = model.token_grid()
        self.frames_per_token = model.cfg.input_size[0] // self.grid[0]
        self.width = 1 + N_POSE + kinds
        self.norm = nn.LayerNorm(model.num_features, eps=1e-6)
        self.out = nn.Linear(model.num_features, self.frames_per_token * self.width)

    @torch.no_grad()
    def start_movements(self, rates: np.ndarray, floor: float = 1e-4) -> None:
        """Start each movement logit at the log-odds of its kind's rate ``[kinds]`` (clipped to ``floor``): a logit
        starting at 0 spends hundreds of steps learning how rare the movement is (AdamW moves each weight
        about the learning rate a step), and teaches the trunk nothing meanwhile."""
        p = torch.as_tensor(np.clip(rates, floor, 1 - floor), dtype=self.out.bias.dtype)
        self.out.bias.view(self.frames_per_token, self.width)[:, 1 + N_POSE :] = torch.log(p / (1 - p))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        t, h, w = self.grid
        per_time = tokens.view(len(tokens), t, h * w, -1).mean(dim=2)
        return self.out(self.norm(per_time)).view(len(tokens), t * self.frames_per_token, self.width)


def pretraining_loss(model: Hiera, dense: DenseHead, batch: tuple[torch.Tensor, ...], cfg: PretrainConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """Binary cross-entropy of the clip's logit + ``dense_weight`` x (per-frame contraction cross-entropy + pose
    mean squared error over the clips with pose weight 1); with ``movement`` > 0, + ``movement`` x the sum over the
    movement kinds of each one's per-frame cross-entropy (each kind as heavy as the contraction; ``dense`` built with
    ``len(MOVEMENT_KINDS)`` kinds); with ``invariance``
    > 0, + ``invariance`` x (1 - the cosine similarity of the pooled features of clips ``2k`` and ``2k + 1``, one
    movement drawn twice). Returns the total and its parts."""
    x, label, level, pose, pose_weight, moving = batch
    tokens = model.forward_tokens(x)
    pooled = model.norm(tokens.mean(dim=1))
    logit = model.forward_head(pooled)  # what forward() computes, tokens reused
    frames = dense(tokens)
    parts = {
        "label": F.binary_cross_entropy_with_logits(logit, label),
        "contraction": F.binary_cross_entropy_with_logits(frames[..., 0], level.clamp(0, 1)),
        "pose": _weighted_mean(F.mse_loss(frames[..., 1 : 1 + N_POSE], pose / cfg.pose_scale, reduction="none").mean(dim=(1, 2)), pose_weight),
    }
    total = parts["label"] + cfg.dense_weight * (parts["contraction"] + parts["pose"])
    if cfg.movement > 0:
        parts["movement"] = F.binary_cross_entropy_with_logits(frames[..., 1 + N_POSE :], moving, reduction="none").mean(dim=(0, 1)).sum()
        total = total + cfg.movement * parts["movement"]
    if cfg.invariance > 0:
        parts["invariance"] = 1 - F.cosine_similarity(pooled[0::2], pooled[1::2], dim=1).mean()
        total = total + cfg.invariance * parts["invariance"]
    return total, {k: v.item() for k, v in parts.items()}


def _weighted_mean(per_clip: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean of ``per_clip`` ``[B]`` weighted by ``weight`` ``[B]``; 0 (with a gradient) when every weight is 0."""
    return (per_clip * weight).sum() / weight.sum().clamp(min=1.0)


def training_threads(workers: int) -> int:
    """Torch's threads for training on a CPU beside ``workers`` clip-drawing processes: the cores they leave, at least
    one. Torch's default, one thread per core, puts a thread on each worker's core, and every parallel region then
    waits for that thread (BENCHMARKS.md, 2026-12-06: one worker on 2 cores, 19.9 clips/s with one thread, 15.6 with
    two)."""
    return max(1, default_workers() - workers)


def validation_set(stream: StreamConfig, clip: ClipConfig, n: int) -> tuple[torch.Tensor, np.ndarray]:
    """The fixed validation clips ``[n, 3, T, S, S]`` and labels ``[n]`` of a stream (its seed + 1,000,000)."""
    data = StreamClips(replace(stream, seed=stream.seed + VAL_SEED_OFFSET), clip, 0, n)
    xs, ys = zip(*(data[i][:2] for i in range(n)), strict=True)
    return torch.stack(xs), torch.stack(ys).numpy()


@torch.no_grad()
def _val_auc(model: Hiera, x: torch.Tensor, y: np.ndarray, batch_size: int) -> float:
    from sklearn.metrics import roc_auc_score

    model.eval()
    dev = next(model.parameters()).device
    logits = torch.cat([model(x[i : i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)]).float().numpy()
    model.train()
    return float(roc_auc_score(y, logits)) if 0 < y.sum() < len(y) else float("nan")


def pretrain_supervised(
    out: Path,
    run: RunConfig,
    cfg: PretrainConfig,
    stream: StreamConfig,
    start_weights: str = "none",
    workers: int = 1,
    progress: Progress | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Pretrain ``run.model`` on ``cfg.steps`` batches of ``stream`` and write a backbone folder ``out``
    (``model.safetensors`` + ``config.json`` + ``pretrain.jsonl``). Resumes from ``out/resume.pt`` when the
    same recipe was started there before. Returns the last log record.

    ``workers`` processes draw the clips; ``threads`` are torch's threads in this process while it trains, by default
    on a CPU the cores the workers leave (``training_threads``) and on a GPU torch's own. ``progress`` counts optimiser
    steps (stage ``pretrain``).
    """
    if run.clip.temporal != "resize":
        raise InputError(None, f"[clip] temporal = {run.clip.temporal!r}", "pretraining draws temporal = 'resize' clips; remove that setting")
    check_pairs(cfg, stream.renderers)
    run = replace(run, train=replace(run.train, seed=cfg.seed))
    out.mkdir(parents=True, exist_ok=True)
    # Compared as JSON would store them (tuples become lists), in the checkpoint as in run folders.
    recipe = json.loads(json.dumps({"pretrain": asdict(cfg), "stream": asdict(stream), "start_weights": start_weights}))
    config = json.loads(json.dumps(run.as_dict()))
    torch.manual_seed(cfg.seed)
    model = Hiera(run.model)
    source = load_backbone(model, start_weights)
    dense = DenseHead(model, len(MOVEMENT_KINDS) if cfg.movement > 0 else 0)
    if cfg.movement > 0:
        dense.start_movements(movement_rates(stream, run.clip))
    dev, where = device(), device_name()
    if threads is None and dev.type == "cpu":
        threads = training_threads(workers)
    model.to(dev)
    dense.to(dev)
    named = [*model.named_parameters(), *(("dense." + n, p) for n, p in dense.named_parameters())]
    params = [p for _, p in named]
    opt = torch.optim.AdamW(loop.param_groups(named, cfg.weight_decay), lr=cfg.lr)
    state_path, modules = out / STATE_FILE, {"model": model, "dense": dense}
    defaults = json.loads(json.dumps({"pretrain": asdict(PretrainConfig()), "stream": asdict(StreamConfig())}))
    step = loop.load_resume(state_path, modules, opt, recipe, config, "a pretraining run", defaults)
    advance = counter(progress, "pretrain", cfg.steps, step)
    val_x, val_y = validation_set(stream, run.clip, cfg.val_clips)

    data = StreamClips(stream, run.clip, step * cfg.batch_size, (cfg.steps - step) * cfg.batch_size, cfg)
    loader = DataLoader(
        data, batch_size=cfg.batch_size, num_workers=workers, prefetch_factor=4 if workers else None, persistent_workers=workers > 0, pin_memory=dev.type == "cuda"
    )
    model.train()
    record: dict[str, Any] = {}
    began, parts = time.perf_counter(), []
    with loop.torch_threads(threads):
        for batch in loader:
            lr = learning_rate(cfg, step)
            loop.set_learning_rate(opt, lr)
            loss, part = pretraining_loss(model, dense, tuple(t.to(dev, non_blocking=True) for t in batch), cfg)
            loop.check_finite(loss, f"step {step + 1}")
            loop.update(opt, loss, params, cfg.grad_clip)
            parts.append(part)
            step += 1
            advance()
            if step % cfg.eval_every == 0 or step == cfg.steps:
                seconds = time.perf_counter() - began
                losses = {f"loss_{k}": float(np.mean([p[k] for p in parts])) for k in parts[0]}
                record = {"step": step, "lr": lr, "easy": round(easy_share(cfg, step - 1), 3), **losses,
                          "val_auc": _val_auc(model, val_x, val_y, 64), "clips_per_s": round(len(parts) * cfg.batch_size / seconds, 2), "device": where,
                          "threads": torch.get_num_threads()}  # fmt: skip
                loop.append_record(out / LOG_FILE, record)
                loop.save_resume(state_path, step, modules, opt, recipe, config)
                began, parts = time.perf_counter(), []

    record = record or loop.last_record(out / LOG_FILE)  # everything was done before this call
    # The dense head is left behind; the one-logit head learnt "spasm or not" and ships with the backbone.
    save_model(out, model, run, {"kind": "backbone", "head": SPASM_HEAD, "start_weights": source, **recipe, "final": record})
    return record
