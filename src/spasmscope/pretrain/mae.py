"""Masked-autoencoder pretraining of the Hiera backbone on unlabeled recordings (Hiera's own method, METHOD §4).

Most mask units of each clip are hidden; the encoder (our Hiera) sees the rest; a small decoder, given the
encoder's tokens and a learned token for every hidden unit, reconstructs each hidden unit's pixels,
normalised per unit (MAE's "norm pix" target). The decoder is discarded after: what a hospital keeps is a
backbone adapted to its own cameras, from hours of unlabeled video-EEG, to fine-tune as usual.

Data: clips of 5-s windows taken from the recordings through the screening path (crop around the infant,
quality gate: windows too dark or without the infant are left out), stored once in a clip cache, so a long
recording is decoded once and streamed in constant memory. The loop checkpoints every ``eval_every`` steps
and a killed run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spasmscope import atomic
from spasmscope.data.batch import Skipped, probe_all
from spasmscope.data.cache import SegmentCache, load_clips, prepare
from spasmscope.data.manifest import read_inputs
from spasmscope.data.preprocess import normalise
from spasmscope.data.segments import SEGMENT_S, window_spans
from spasmscope.data.windows import WindowConfig, windows_of
from spasmscope.errors import InputError
from spasmscope.model import loop
from spasmscope.model.config import RunConfig
from spasmscope.model.hiera import HEAD_KEYS, Hiera
from spasmscope.model.inference import device, device_name
from spasmscope.model.weights import KEPT_HEAD, SPASM_HEAD, load_backbone, save_model
from spasmscope.pretrain.recipe import MaeConfig
from spasmscope.pretrain.supervised import LOG_FILE, STATE_FILE  # same files as supervised pretraining
from spasmscope.progress import Progress, counter


def random_mask(batch: int, units: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """``[batch, units] bool``, True = kept; the same number of units hidden in every row."""
    keep = max(1, int(round(units * (1 - ratio))))
    order = torch.rand(batch, units, generator=generator).argsort(dim=1)
    mask = torch.zeros(batch, units, dtype=torch.bool)
    mask.scatter_(1, order[:, :keep], True)
    return mask


def unit_targets(x: torch.Tensor, model: Hiera, pool: int) -> torch.Tensor:
    """Per-unit reconstruction targets of clips ``x`` ``[B, 3, T, H, W]``: each mask unit's pixels, averaged in
    ``pool x pool`` blocks, flattened and normalised to mean 0 and variance 1 -> ``[B, units, D]``."""
    ut, uh, uw = model.mask_units
    b, c, t, h, w = x.shape
    pt, ph, pw = t // ut, h // uh, w // uw  # pixels of one unit
    small = F.avg_pool3d(x, (1, pool, pool)) if pool > 1 else x
    ph, pw = ph // pool, pw // pool
    units = small.view(b, c, ut, pt, uh, ph, uw, pw).permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b, ut * uh * uw, -1)
    mean, var = units.mean(dim=-1, keepdim=True), units.var(dim=-1, keepdim=True)
    return (units - mean) / (var + 1e-6).sqrt()


class Decoder(nn.Module):
    """Encoder tokens of the kept units + a mask token per hidden unit -> each unit's pixels."""

    def __init__(self, model: Hiera, cfg: MaeConfig):
        super().__init__()
        units = math.prod(model.mask_units)
        ut, uh, uw = model.mask_units
        t, h, w = model.cfg.input_size
        out = 3 * (t // ut) * (h // uh // cfg.target_pool) * (w // uw // cfg.target_pool)
        self.tokens_per_unit = math.prod(model.token_grid()) // units
        self.embed = nn.Linear(model.num_features * self.tokens_per_unit, cfg.decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.decoder_dim))
        self.pos = nn.Parameter(torch.zeros(1, units, cfg.decoder_dim))
        layer = nn.TransformerEncoderLayer(cfg.decoder_dim, cfg.decoder_heads, 4 * cfg.decoder_dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, cfg.decoder_depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.decoder_dim)
        self.pred = nn.Linear(cfg.decoder_dim, out)
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``tokens`` ``[B, kept * tokens_per_unit, C]`` (unit order), ``mask`` ``[B, units]`` -> ``[B, units, D]``."""
        b, units = mask.shape
        kept = tokens.view(b, self.tokens_per_unit, -1, tokens.shape[-1]).transpose(1, 2).flatten(2)  # [B, kept, tpu * C]
        x = self.mask_token.expand(b, units, -1).clone()
        x[mask] = self.embed(kept).reshape(-1, x.shape[-1])
        return self.pred(self.norm(self.blocks(x + self.pos)))


def mae_loss(model: Hiera, decoder: Decoder, x: torch.Tensor, mask: torch.Tensor, cfg: MaeConfig) -> torch.Tensor:
    """Mean squared error of the reconstruction over the hidden units only."""
    pred = decoder(model.forward_tokens(x, mask), mask)
    target = unit_targets(x, model, cfg.target_pool)
    per_unit = ((pred - target) ** 2).mean(dim=-1)
    hidden = (~mask).float()
    return (per_unit * hidden).sum() / hidden.sum()


def learning_rate(cfg: MaeConfig, step: int) -> float:
    return loop.warmup_cosine(cfg.lr, cfg.warmup, cfg.steps, step)


def pretrain_mae(
    out: Path,
    run: RunConfig,
    cfg: MaeConfig,
    load: Callable[[int], np.ndarray],
    n_clips: int,
    data_fingerprint: str,
    start_weights: str = "none",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """MAE-pretrain ``run.model`` for ``cfg.steps`` steps on clips ``load(i)`` (``uint8 [K, T, S, S, 3]``,
    i < ``n_clips``) and write a backbone folder ``out``; resumes from ``out/resume.pt``. Returns the last log
    record. Batches are drawn from ``(seed, step)``, so a resumed run continues exactly."""
    if n_clips < 1:
        raise InputError(None, "no usable window in the recordings given (all too dark, without the infant, or unreadable)", "give other recordings")
    out.mkdir(parents=True, exist_ok=True)
    recipe = json.loads(json.dumps({"mae": asdict(cfg), "start_weights": start_weights, "data_fingerprint": data_fingerprint, "clips": n_clips}))
    config = json.loads(json.dumps(run.as_dict()))
    torch.manual_seed(cfg.seed)
    model = Hiera(run.model)
    source = load_backbone(model, start_weights)
    decoder = Decoder(model, cfg)
    dev, where = device(), device_name()
    model.to(dev)
    decoder.to(dev)
    # A spasm head of the start weights is carried through untouched (MAE trains no head; no weight decay on it).
    kept = source.get("head") == KEPT_HEAD
    named = [*((n, p) for n, p in model.named_parameters() if not (kept and n in HEAD_KEYS)), *(("decoder." + n, p) for n, p in decoder.named_parameters())]
    params = [p for _, p in named]
    opt = torch.optim.AdamW(loop.param_groups(named, cfg.weight_decay), lr=cfg.lr)
    state_path, modules = out / STATE_FILE, {"model": model, "decoder": decoder}
    defaults = json.loads(json.dumps({"mae": asdict(MaeConfig())}))
    step = loop.load_resume(state_path, modules, opt, recipe, config, "an MAE run on other recordings or", defaults)
    advance = counter(progress, "pretrain mae", cfg.steps, step)
    model.train()
    record: dict[str, Any] = {}
    began, losses = time.perf_counter(), []
    while step < cfg.steps:
        rng = np.random.default_rng([cfg.seed, step])
        rows = rng.integers(n_clips, size=cfg.batch_size)
        clips = [load(int(i)) for i in rows]
        x = normalise(np.stack([c[rng.integers(len(c))] for c in clips])).to(dev)
        mask = random_mask(len(x), math.prod(model.mask_units), cfg.mask_ratio, torch.Generator().manual_seed(int(rng.integers(2**62)))).to(dev)
        loop.set_learning_rate(opt, learning_rate(cfg, step))
        loss = mae_loss(model, decoder, x, mask, cfg)
        loop.check_finite(loss, f"step {step + 1}")
        loop.update(opt, loss, params, cfg.grad_clip)
        losses.append(loss.item())
        step += 1
        advance()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            record = {"step": step, "lr": learning_rate(cfg, step - 1), "loss": float(np.mean(losses)), "clips_per_s": round(len(losses) * cfg.batch_size / (time.perf_counter() - began), 2), "device": where}
            loop.append_record(out / LOG_FILE, record)
            loop.save_resume(state_path, step, modules, opt, recipe, config)
            began, losses = time.perf_counter(), []
    record = record or loop.last_record(out / LOG_FILE)
    if not kept:
        model.reset_classifier()
    save_model(out, model, run, {"kind": "backbone", "method": "mae", **({"head": SPASM_HEAD} if kept else {}), "start_weights": source, **recipe, "final": record})
    return record


def window_clips(videos: list[str], cache_root: Path, run: RunConfig, hop: float = SEGMENT_S, progress: Progress | None = None) -> tuple[list[tuple[str, float, float]], Skipped]:
    """Cut every recording into windows through the screening path (infant crop, quality gate) and store the
    usable ones in the clip cache under ``cache_root``; a recording done before is not decoded again. Returns the
    usable windows ``(video, start, end)`` and the recordings skipped with their reason. ``progress`` counts
    windows (stage ``cut windows``)."""
    cache = SegmentCache(cache_root, run.clip)
    windows = WindowConfig(hop=hop)
    skipped = Skipped()
    infos = probe_all(videos, False, skipped)
    advance = counter(progress, "cut windows", sum(len(window_spans(i.duration, SEGMENT_S, hop)) for i in infos.values()))
    found: list[tuple[str, float, float]] = []
    for video, info in infos.items():
        digest = cache.digest(video)
        listing = cache_root / "windows" / f"{digest}-{hop:g}-{cache.settings_digest()}.json"
        if listing.exists():
            usable = json.loads(listing.read_text())
            advance(len(window_spans(info.duration, SEGMENT_S, hop)))
        else:
            usable = []
            for w in windows_of(info.path, info, windows, run.clip, windows.localiser()):
                if w.clip is not None:
                    cache.put(cache.key(digest, w.row["start"], w.row["end"]), w.clip)
                    usable.append((w.row["start"], w.row["end"]))
                advance()
            atomic.write_json(listing, usable)  # written last: the recording is done
        found += [(video, s, e) for s, e in usable]
    return found, skipped


def pretrain_on_recordings(
    inputs: list[Path],
    out: Path,
    run: RunConfig,
    cfg: MaeConfig,
    start_weights: str = "none",
    hop: float = SEGMENT_S,
    cache_root: Path | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], int, Skipped]:
    """``spasmscope pretrain mae``: MAE-pretrain on unlabeled recordings (cut into windows every ``hop`` seconds) or
    on the segments of one manifest CSV. Returns the last log record, the number of clips and what was skipped."""
    cache_root = cache_root or out / "cache"
    manifest, videos = read_inputs(inputs)
    if manifest is not None:
        result = prepare(manifest, cache_root, run.clip, workers=workers, progress=progress)
        skipped = result.skipped
        unreadable = {what for what, _ in skipped.items}
        spans = [(r.path, float(r.start), float(r.end)) for r in manifest.rows.itertuples() if r.path not in unreadable]
    else:
        spans, skipped = window_clips(videos, cache_root, run, hop, progress)
    clip_cache = SegmentCache(cache_root, run.clip)
    fingerprint = hashlib.sha256("".join(f"{clip_cache.digest(v)},{s:g},{e:g}\n" for v, s, e in spans).encode()).hexdigest()

    def load(i: int) -> np.ndarray:
        return load_clips(clip_cache, *spans[i])

    return pretrain_mae(out, run, cfg, load, len(spans), fingerprint, start_weights, progress), len(spans), skipped
