"""MAE pretraining: targets, masking, the decoder, a loss that falls, resume, and the command on recordings."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import interrupt_after, run_cli

from spasmscope.data.preprocess import ClipConfig
from spasmscope.model.architecture import HieraConfig
from spasmscope.model.config import RunConfig, TrainConfig
from spasmscope.model.folder import read_model_config
from spasmscope.model.hiera import HEAD_KEYS, Hiera
from spasmscope.model.weights import load_backbone, load_model, save_model
from spasmscope.pretrain.mae import Decoder, mae_loss, pretrain_mae, random_mask, unit_targets
from spasmscope.pretrain.recipe import MaeConfig

TINY = HieraConfig(input_size=(8, 64, 64), embed_dim=16, num_heads=1, stages=(1, 1, 1, 1))
TINY_RUN = RunConfig("cpu", TINY, ClipConfig(frames=8, size=64), TrainConfig())


def test_random_mask_keeps_the_same_number_per_row():
    mask = random_mask(5, 32, 0.75, torch.Generator().manual_seed(0))
    assert mask.shape == (5, 32) and mask.dtype == torch.bool
    assert mask.sum(dim=1).tolist() == [8] * 5
    assert not torch.equal(mask[0], mask[1])


def test_unit_targets_are_each_units_pixels_normalised():
    model = Hiera(TINY)
    assert model.mask_units == (4, 2, 2)
    x = torch.randn(2, 3, 8, 64, 64)
    t = unit_targets(x, model, pool=4)
    # A unit is 2 frames x 32 x 32 pixels; pooled by 4: 3 x 2 x 8 x 8 values.
    assert t.shape == (2, 16, 3 * 2 * 8 * 8)
    assert torch.allclose(t.mean(dim=-1), torch.zeros(2, 16), atol=1e-5)
    # Unit 5 is (t 1, h 0, w 1): frames 2-3, rows 0-31, columns 32-63.
    block = torch.nn.functional.avg_pool3d(x[:, :, 2:4, 0:32, 32:64], (1, 4, 4)).flatten(1)
    expected = (block - block.mean(1, keepdim=True)) / (block.var(1, keepdim=True) + 1e-6).sqrt()
    assert torch.allclose(t[:, 5], expected, atol=1e-5)


def test_the_loss_counts_hidden_units_only_and_falls():
    torch.manual_seed(0)
    model, cfg = Hiera(TINY), MaeConfig(decoder_dim=32, decoder_heads=2)
    decoder = Decoder(model, cfg)
    # A clip with structure to learn: moving bars.
    t = torch.arange(8).view(1, 1, 8, 1, 1)
    xs = torch.arange(64).view(1, 1, 1, 1, 64)
    x = torch.sin((xs + 4 * t) / 5.0).expand(4, 3, 8, 64, 64).contiguous()
    mask = random_mask(4, 16, 0.75, torch.Generator().manual_seed(1))
    opt = torch.optim.AdamW([*model.parameters(), *decoder.parameters()], lr=1e-3)
    first = mae_loss(model, decoder, x, mask, cfg).item()
    for _ in range(40):
        loss = mae_loss(model, decoder, x, mask, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
    # Shown units do not count: a perfect prediction on hidden units gives 0 whatever the shown ones are.
    with torch.no_grad():
        target = unit_targets(x, model, cfg.target_pool)
        decoder_out = target.clone()
        decoder_out[mask] += 100.0
        per_unit = ((decoder_out - target) ** 2).mean(dim=-1)
        assert (per_unit * (~mask).float()).sum() == 0


def _clips(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (1, 8, 64, 64, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.slow
def test_pretrain_mae_writes_a_backbone_and_resumes(tmp_path):
    clips = _clips(6)
    cfg = MaeConfig(steps=4, batch_size=2, eval_every=2, decoder_dim=32, decoder_heads=2, warmup=1)
    full = tmp_path / "full"
    record = pretrain_mae(full, TINY_RUN, cfg, clips.__getitem__, len(clips), "data")
    assert record["step"] == 4 and math.isfinite(record["loss"])
    meta = read_model_config(full)
    assert meta["kind"] == "backbone" and meta["method"] == "mae"

    cut = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        pretrain_mae(cut, TINY_RUN, cfg, clips.__getitem__, len(clips), "data", progress=interrupt_after(3))
    pretrain_mae(cut, TINY_RUN, cfg, clips.__getitem__, len(clips), "data")
    a, _, _ = load_model(full)
    b, _, _ = load_model(cut)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    with pytest.raises(Exception, match="MAE run on other recordings or with another recipe"):
        pretrain_mae(cut, TINY_RUN, cfg, clips.__getitem__, len(clips), "other data")
    model = Hiera(TINY)
    load_backbone(model, str(full))
    assert all(torch.equal(v, a.state_dict()[k]) for k, v in model.state_dict().items() if k not in HEAD_KEYS)

    # Started from a backbone with a spasm head, MAE adapts the backbone and carries the head through untouched.
    start = tmp_path / "start"
    torch.manual_seed(1)
    spasm = Hiera(TINY)
    torch.nn.init.normal_(spasm.head.projection.weight)
    save_model(start, spasm, TINY_RUN, {"kind": "backbone", "head": "spasm"})
    pretrain_mae(tmp_path / "adapted", TINY_RUN, cfg, clips.__getitem__, len(clips), "data", start_weights=str(start))
    adapted, _, meta = load_model(tmp_path / "adapted")
    assert meta["head"] == "spasm"
    assert all(torch.equal(adapted.state_dict()[k], spasm.state_dict()[k]) for k in HEAD_KEYS)
    assert not torch.equal(adapted.state_dict()["patch_embed.proj.weight"], spasm.state_dict()["patch_embed.proj.weight"])


@pytest.mark.slow
def test_pretrain_mae_command_on_recordings_skips_dark_and_empty_windows(tmp_path):
    from spasmscope.synth import SynthConfig, generate

    cohort = tmp_path / "cohort"
    generate(SynthConfig(children=1, healthy=0, seed=2, long_minutes=2.5, segments_per_video=(2, 2), videos_per_child=(1, 1)), cohort)
    video = cohort / "long" / "es000_long0.mp4"
    out = tmp_path / "mae"
    r = run_cli("pretrain", "mae", str(video), str(tmp_path / "missing.mp4"), "--out", str(out), "--steps", "4", "--batch-size", "2", "--hop", "5")
    assert r.returncode == 3, r.stderr  # finished, with a file skipped
    assert "skipped:" in r.stderr and "missing.mp4" in r.stderr
    listing = json.loads(next((out / "cache" / "windows").glob("*.json")).read_text())
    gaps = pd.read_csv(cohort / "gaps.csv")
    dark = gaps[gaps["kind"] == "dark"].iloc[0]
    assert 0 < len(listing) < 30  # 30 windows of 5 s; the dark ones are left out
    assert not any(s >= dark["start"] and e <= dark["end"] for s, e in listing)
    assert read_model_config(out)["method"] == "mae"
