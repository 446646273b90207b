"""Supervised pretraining: the synthetic clip stream, the recipe's schedules, resume, the backbone it writes,
and the backbone shipped inside the package."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import interrupt_after
from torch.utils.data import DataLoader

from spasmscope.data.preprocess import (
    ClipConfig,
    ColourJitter,
    Zoom,
    apply_augmentation,
    apply_colour_jitter,
    apply_zoom,
    make_clips,
    normalise,
    sample_augmentation,
    sample_colour_jitter,
    sample_zoom,
)
from spasmscope.errors import InputError
from spasmscope.model.architecture import HieraConfig
from spasmscope.model.config import RunConfig, TrainConfig, preset
from spasmscope.model.folder import read_model_config
from spasmscope.model.hiera import HEAD_KEYS, Hiera
from spasmscope.model.loop import same_settings
from spasmscope.model.weights import default_weights, embedded_backbone, load_backbone, load_model
from spasmscope.pretrain.recipe import PretrainConfig
from spasmscope.pretrain.supervised import (
    AUGMENT_TAG,
    COLOUR_TAG,
    ZOOM_TAG,
    DenseHead,
    StreamClips,
    easy_share,
    learning_rate,
    pretrain_supervised,
    pretraining_loss,
    training_threads,
)
from spasmscope.synth.look import N_POSE
from spasmscope.synth.stream import StreamConfig, movement_rates, plan_clip, sample_clip, square_clip

TINY = HieraConfig(input_size=(8, 32, 32), embed_dim=16, num_heads=1, stages=(1, 1, 1, 1))
TINY_RUN = RunConfig("cpu", TINY, ClipConfig(frames=8, size=32), TrainConfig())


def _train(model: Hiera, dense: DenseHead, batch: tuple[torch.Tensor, ...], recipe: PretrainConfig, steps: int) -> float:
    """``steps`` AdamW steps (lr 3e-3) of the pretraining loss on one fixed batch; the last step's loss."""
    opt = torch.optim.AdamW([*model.parameters(), *dense.parameters()], lr=3e-3)
    for _ in range(steps):
        loss, _ = pretraining_loss(model, dense, batch, recipe)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def test_stream_clips_are_model_input_and_replay_from_their_index():
    clip = ClipConfig(frames=16, size=64)
    a = sample_clip(StreamConfig(seed=3), 5, clip)
    b = sample_clip(StreamConfig(seed=3), 5, clip)
    c = sample_clip(StreamConfig(seed=4), 5, clip)
    assert a.clip.shape == (1, 16, 64, 64, 3) and a.clip.dtype == np.uint8
    assert a.contraction.shape == (16,) and a.pose.shape == (16, N_POSE)
    assert np.array_equal(a.clip, b.clip) and a.label == b.label and np.array_equal(a.pose, b.pose)
    assert not np.array_equal(a.clip, c.clip)
    drawn = [sample_clip(StreamConfig(seed=1), i, ClipConfig(frames=8, size=32)) for i in range(120)]
    assert 0.35 < np.mean([d.label for d in drawn]) < 0.65  # spasm_fraction 0.5
    with pytest.raises(ValueError, match="temporal='resize' only"):
        sample_clip(StreamConfig(), 0, replace(clip, temporal="clips"))


def test_stream_targets_follow_the_spasm():
    # The contraction target is 0 throughout a clip without a spasm, and reaches most of its height in one with.
    drawn = [sample_clip(StreamConfig(seed=5), i, ClipConfig(frames=16, size=32)) for i in range(40)]
    for d in drawn:
        assert d.contraction.min() >= 0 and d.contraction.max() <= 1
        assert (d.contraction.max() > 0.5) == bool(d.label)
    # In a spasm clip the child's symmetric pattern moves the pose most where the contraction is highest.
    spasm = next(d for d in drawn if d.label)
    peak, calm = int(spasm.contraction.argmax()), int(spasm.contraction.argmin())
    assert np.abs(spasm.pose[peak]).sum() > np.abs(spasm.pose[calm]).sum()


def test_stream_resize_matches_the_cache_preprocessing():
    frames = np.random.default_rng(0).integers(0, 256, (8, 90, 160, 3), dtype=np.uint8)
    for spatial in ("squash", "pad", "crop"):
        clip = ClipConfig(frames=8, size=32, spatial=spatial)
        ours, reference = square_clip(frames, clip).astype(int), make_clips(frames, clip).astype(int)
        assert ours.shape == reference.shape
        assert np.abs(ours - reference).max() <= 1


def test_easy_clips_are_square_calm_views():
    clip = ClipConfig(frames=16, size=64)
    easy = [sample_clip(StreamConfig(seed=2), i, clip, easy=1.0).clip for i in range(6)]
    hard = [sample_clip(StreamConfig(seed=2), i, clip, easy=0.0).clip for i in range(6)]

    def motion(c: np.ndarray) -> float:
        return float(np.abs(np.diff(c[0].astype(np.float32), axis=0)).mean())

    # No camera motion, no confounders, calm infants: far less frame-to-frame change.
    assert np.mean([motion(c) for c in easy]) < np.mean([motion(c) for c in hard])


def test_schedules():
    cfg = PretrainConfig(steps=1000, lr=1e-3, warmup=100, curriculum=0.5, easy_floor=0.2)
    assert learning_rate(cfg, 0) == pytest.approx(1e-5)
    assert learning_rate(cfg, 99) == pytest.approx(1e-3)
    assert learning_rate(cfg, 550) == pytest.approx(0.5e-3)
    assert learning_rate(cfg, 999) < 1e-6
    assert easy_share(cfg, 0) == 1.0
    assert easy_share(cfg, 250) == pytest.approx(0.6)
    assert easy_share(cfg, 500) == easy_share(cfg, 900) == pytest.approx(0.2)
    # Continuing a pretrained backbone: no curriculum, the floor's share of easy clips from the first step.
    assert easy_share(PretrainConfig(steps=1000, curriculum=0.0, easy_floor=0.2), 0) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="steps=0"):
        PretrainConfig(steps=0)
    with pytest.raises(ValueError, match="curriculum=1.5"):
        PretrainConfig(curriculum=1.5)


def test_stream_batches_do_not_depend_on_loader_workers():
    recipe = PretrainConfig(steps=2, batch_size=3)
    data = StreamClips(StreamConfig(seed=8), TINY_RUN.clip, 0, 6, recipe)
    one = list(DataLoader(data, batch_size=3, num_workers=0))
    two = list(DataLoader(data, batch_size=3, num_workers=2))
    assert all(torch.equal(a, b) for x, y in zip(one, two, strict=True) for a, b in zip(x, y, strict=True))


def test_augmented_stream_clips_are_the_drawn_clips_turned_and_mirrors_carry_no_pose():
    recipe = PretrainConfig(steps=4, batch_size=4, augment_p=0.5)
    stream = StreamConfig(seed=8)
    data = StreamClips(stream, TINY_RUN.clip, 0, 16, recipe)
    weights = []
    for j in range(16):
        x, label, level, pose, pose_weight, moving = data[j]
        drawn = sample_clip(stream, j, TINY_RUN.clip, easy_share(recipe, j // 4))
        assert np.array_equal(moving.numpy(), drawn.movements)  # a flip or turn moves no movement in time
        aug = sample_augmentation(np.random.default_rng([AUGMENT_TAG, stream.seed, j]), 0.5)
        assert torch.equal(x, normalise(apply_augmentation(drawn.clip[0], aug)))
        assert label.item() == drawn.label and np.array_equal(level.numpy(), drawn.contraction) and np.array_equal(pose.numpy(), drawn.pose)
        weights.append(pose_weight.item())
        assert pose_weight.item() == float(aug.hflip == aug.vflip)  # one flip mirrors the infant; two turn it
    assert 0 < sum(weights) < 16
    with pytest.raises(ValueError, match="augment_p=1.5"):
        PretrainConfig(augment_p=1.5)


def test_colour_jitter_comes_after_the_augmentations_and_leaves_their_draws_and_the_targets_alone():
    stream = StreamConfig(seed=8)
    plain = StreamClips(stream, TINY_RUN.clip, 0, 8, PretrainConfig(steps=2, batch_size=4, augment_p=0.5))
    coloured = StreamClips(stream, TINY_RUN.clip, 0, 8, PretrainConfig(steps=2, batch_size=4, augment_p=0.5, colour_p=0.6))
    changed = 0
    for j in range(8):
        x, *targets = coloured[j]
        x0, *targets0 = plain[j]
        drawn = sample_clip(stream, j, TINY_RUN.clip, easy_share(coloured.recipe, j // 4))
        aug = sample_augmentation(np.random.default_rng([AUGMENT_TAG, stream.seed, j]), 0.5)
        jitter = sample_colour_jitter(np.random.default_rng([COLOUR_TAG, stream.seed, j]), 0.6)
        assert torch.equal(x, normalise(apply_colour_jitter(apply_augmentation(drawn.clip[0], aug), jitter)))
        assert torch.equal(x0, normalise(apply_augmentation(drawn.clip[0], aug)))
        assert all(torch.equal(a, b) for a, b in zip(targets, targets0, strict=True))
        changed += jitter != ColourJitter()
    assert 0 < changed < 8
    with pytest.raises(ValueError, match="colour_p=-0.1"):
        PretrainConfig(colour_p=-0.1)


def test_zoom_comes_between_the_augmentations_and_the_colour_jitter_and_leaves_the_other_draws_and_targets_alone():
    stream = StreamConfig(seed=8)
    recipe = PretrainConfig(steps=2, batch_size=4, augment_p=0.5, colour_p=0.6)
    plain = StreamClips(stream, TINY_RUN.clip, 0, 8, recipe)
    zoomed = StreamClips(stream, TINY_RUN.clip, 0, 8, replace(recipe, zoom_p=0.5))
    changed = 0
    for j in range(8):
        x, *targets = zoomed[j]
        _, *targets0 = plain[j]
        drawn = sample_clip(stream, j, TINY_RUN.clip, easy_share(recipe, j // 4))
        aug = sample_augmentation(np.random.default_rng([AUGMENT_TAG, stream.seed, j]), 0.5)
        zoom = sample_zoom(np.random.default_rng([ZOOM_TAG, stream.seed, j]), 0.5)
        jitter = sample_colour_jitter(np.random.default_rng([COLOUR_TAG, stream.seed, j]), 0.6)
        assert torch.equal(x, normalise(apply_colour_jitter(apply_zoom(apply_augmentation(drawn.clip[0], aug), zoom), jitter)))
        assert all(torch.equal(a, b) for a, b in zip(targets, targets0, strict=True))  # a farther camera, the same movement
        changed += zoom != Zoom()
    assert 0 < changed < 8
    with pytest.raises(ValueError, match="zoom_p=2"):
        PretrainConfig(zoom_p=2)


def test_texture_then_sensor_and_codec_come_last_and_leave_the_other_draws_and_targets_alone():
    from spasmscope.data.preprocess import Degradation, apply_degradation, apply_texture, sample_degradation, sample_texture
    from spasmscope.pretrain.supervised import DEGRADE_TAG, TEXTURE_TAG

    stream = StreamConfig(seed=8)
    recipe = PretrainConfig(steps=2, batch_size=4, augment_p=0.5, colour_p=0.6, zoom_p=0.5, texture_p=0.5)
    plain = StreamClips(stream, TINY_RUN.clip, 0, 8, recipe)
    degraded = StreamClips(stream, TINY_RUN.clip, 0, 8, replace(recipe, degrade_p=0.5))
    changed = 0
    for j in range(8):
        x, *targets = degraded[j]
        _, *targets0 = plain[j]
        drawn = sample_clip(stream, j, TINY_RUN.clip, easy_share(recipe, j // 4))
        aug = sample_augmentation(np.random.default_rng([AUGMENT_TAG, stream.seed, j]), 0.5)
        zoom = sample_zoom(np.random.default_rng([ZOOM_TAG, stream.seed, j]), 0.5)
        jitter = sample_colour_jitter(np.random.default_rng([COLOUR_TAG, stream.seed, j]), 0.6)
        texture = sample_texture(np.random.default_rng([TEXTURE_TAG, stream.seed, j]), 0.5)
        d = sample_degradation(np.random.default_rng([DEGRADE_TAG, stream.seed, j]), 0.5)
        assert torch.equal(x, normalise(apply_degradation(apply_texture(apply_colour_jitter(apply_zoom(apply_augmentation(drawn.clip[0], aug), zoom), jitter), texture), d)))
        assert all(torch.equal(a, b) for a, b in zip(targets, targets0, strict=True))  # a worse camera, the same movement
        changed += d != Degradation()
    assert 0 < changed < 8
    with pytest.raises(ValueError, match="degrade_p=2"):
        PretrainConfig(degrade_p=2)
    with pytest.raises(ValueError, match="texture_p=-1"):
        PretrainConfig(texture_p=-1)


def test_the_pose_loss_leaves_out_clips_of_weight_zero():
    torch.manual_seed(0)
    model = Hiera(TINY)
    dense = DenseHead(model)
    data = StreamClips(StreamConfig(seed=9), TINY_RUN.clip, 0, 4)
    x, label, level, pose, weight, moving = (torch.stack(v) for v in zip(*(data[i] for i in range(4)), strict=True))
    assert torch.all(weight == 1)
    with torch.no_grad():
        _, parts = pretraining_loss(model, dense, (x, label, level, pose, weight, moving), PretrainConfig())
        frames = dense(model.forward_tokens(x))
        assert parts["pose"] == pytest.approx(torch.nn.functional.mse_loss(frames[..., 1:], pose / 0.25).item(), rel=1e-5)
        # Weight 0 on clip 2: its pose targets no longer count, whatever they are.
        weight[2] = 0.0
        _, a = pretraining_loss(model, dense, (x, label, level, pose, weight, moving), PretrainConfig())
        moved = pose.clone()
        moved[2] += 3.0
        _, b = pretraining_loss(model, dense, (x, label, level, moved, weight, moving), PretrainConfig())
        assert a["pose"] == pytest.approx(b["pose"], rel=1e-6) and a["label"] == parts["label"]
        assert a["pose"] != pytest.approx(parts["pose"], rel=1e-3)


def test_stream_clips_name_the_movements_under_way_and_the_loss_learns_them():
    from spasmscope.synth.motion import MOVEMENT_KINDS, movement_frames

    # The table is the timeline's own spans read at the shown frames' times (half-open: an offset frame is out).
    t = np.arange(10) / 2
    table = movement_frames((("turn", 1.0, 2.5), ("hand", 0.0, 0.5), ("turn", 4.0, 9.0)), t)
    turn, hand = MOVEMENT_KINDS.index("turn"), MOVEMENT_KINDS.index("hand")
    assert table.shape == (10, len(MOVEMENT_KINDS)) and table.sum() == 3 + 1 + 2
    assert table[:, turn].tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 1, 1] and table[:, hand].tolist() == [1] + [0] * 9
    with pytest.raises(ValueError):
        movement_frames((("wave", 0.0, 1.0),), t)
    stream = StreamConfig(seed=9, startle_rate=0.5, mimic_rate=0.5)
    seen: set[str] = set()
    for i in range(40):
        plan = plan_clip(stream, i, TINY_RUN.clip)
        got = sample_clip(stream, i, TINY_RUN.clip).movements
        times = plan.timeline.t[plan.shown]
        expected = np.zeros_like(got)
        for kind, onset, offset in plan.timeline.movements:
            expected[(times >= onset) & (times < offset), MOVEMENT_KINDS.index(kind)] = 1
            seen.add(kind)
        assert np.array_equal(got, expected)
    assert {"kick", "startle"} <= seen and len(seen) >= 5
    rates = movement_rates(stream, TINY_RUN.clip, 40)  # over the same 40 planned clips
    assert np.allclose(rates, np.mean([plan_clip(stream, i, TINY_RUN.clip).movements.mean(axis=0) for i in range(40)], axis=0))
    assert rates[MOVEMENT_KINDS.index("startle")] > 0
    # The loss: each kind's logit per frame against the table, weighted by ``movement``; off, the head is as it was.
    torch.manual_seed(0)
    model = Hiera(TINY)
    data = StreamClips(stream, TINY_RUN.clip, 0, 8)
    batch = tuple(torch.stack(v) for v in zip(*(data[i] for i in range(8)), strict=True))
    assert batch[5].shape == (8, TINY_RUN.clip.frames, len(MOVEMENT_KINDS)) and batch[5].sum() > 0
    assert DenseHead(model).out.out_features == 2 * (1 + N_POSE)
    dense = DenseHead(model, len(MOVEMENT_KINDS))
    # The logits start at each kind's rate, for every frame a time step covers; a kind never drawn at the floor.
    dense.start_movements(rates)
    started = torch.sigmoid(dense.out.bias.view(2, 1 + N_POSE + len(MOVEMENT_KINDS))[:, 1 + N_POSE :]).detach().double().numpy()
    assert np.allclose(started, np.clip(rates, 1e-4, 1 - 1e-4)[None].repeat(2, axis=0), rtol=1e-4)
    recipe = PretrainConfig(movement=0.5)
    total, parts = pretraining_loss(model, dense, batch, recipe)
    frames = dense(model.forward_tokens(batch[0]))
    # Each kind's per-frame cross-entropy, summed over the kinds (each as heavy as the contraction target).
    per_kind = [torch.nn.functional.binary_cross_entropy_with_logits(frames[..., 1 + N_POSE + k], batch[5][..., k]) for k in range(len(MOVEMENT_KINDS))]
    assert parts["movement"] == pytest.approx(sum(per_kind).item(), rel=1e-5)
    base, base_parts = pretraining_loss(model, dense, batch, PretrainConfig())
    assert "movement" not in base_parts and total.item() == pytest.approx(base.item() + 0.5 * parts["movement"], rel=1e-5)
    with pytest.raises(ValueError, match="movement=-1"):
        PretrainConfig(movement=-1)
    _train(model, dense, batch, replace(recipe, movement=5.0), 12)
    # A few steps with a strong weight fit the target on the fixed batch.
    assert pretraining_loss(model, dense, batch, recipe)[1]["movement"] < 0.7 * parts["movement"]


def test_dense_head_reads_the_tokens_the_pooled_features_come_from():
    torch.manual_seed(0)
    model = Hiera(TINY).eval()
    x = torch.randn(2, 3, 8, 32, 32)
    tokens = model.forward_tokens(x)
    assert model.token_grid() == (4, 1, 1) and tokens.shape == (2, 4, model.num_features)
    assert torch.allclose(model.norm(tokens.mean(dim=1)), model.forward_features(x), atol=1e-6)
    dense = DenseHead(model)
    assert dense(tokens).shape == (2, 8, 1 + N_POSE)
    # Each time step's prediction depends only on its own tokens: change step 2, frames 4-5 change, others not.
    moved = tokens.clone()
    moved[:, 2] += 1.0
    diff = (dense(moved) - dense(tokens)).abs().amax(dim=(0, 2))
    assert torch.all(diff[4:6] > 0) and torch.all(diff[:4] == 0) and torch.all(diff[6:] == 0)


def test_pretraining_loss_falls_on_a_fixed_batch():
    # A real signal to fit: one batch of stream clips with their targets, a few steps of the actual loss.
    torch.manual_seed(0)
    model = Hiera(TINY)
    dense = DenseHead(model)
    data = StreamClips(StreamConfig(seed=9), TINY_RUN.clip, 0, 8)
    batch = tuple(torch.stack(v) for v in zip(*(data[i] for i in range(8)), strict=True))
    first, parts = pretraining_loss(model, dense, batch, PretrainConfig())
    assert set(parts) == {"label", "contraction", "pose"}
    assert _train(model, dense, batch, PretrainConfig(), 30) < 0.7 * first.item()


def test_a_paired_stream_draws_each_movement_twice_in_two_pictures_and_the_loss_pulls_their_features_together(tmp_path):
    from spasmscope.errors import SettingError
    from spasmscope.synth.stream import clip_renderer, partner

    stream = StreamConfig(seed=4, renderers=("articulated", "silhouette", "shaded"), startle_rate=0.3)
    recipe = PretrainConfig(batch_size=6, augment_p=0.5, colour_p=0.5, invariance=0.5, curriculum=0)
    data = StreamClips(stream, TINY_RUN.clip, 0, 6, recipe)
    items = [data[i] for i in range(6)]
    for k in (0, 2, 4):
        assert partner(stream, k) != clip_renderer(stream, k)
        for a, b in zip(items[k][1:], items[k + 1][1:], strict=True):  # label, contraction, pose, pose weight
            assert torch.equal(a, b)
        assert (items[k][0] - items[k + 1][0]).abs().mean() > 0.05  # another picture
        # The first of a pair is the stream's own clip k, drawn as an unpaired recipe draws it.
        alone = StreamClips(stream, TINY_RUN.clip, 0, 6, replace(recipe, invariance=0.0))[k]
        assert torch.equal(alone[0], items[k][0])
    # The second is the same timeline and frames in the partner's scene (before any augmentation).
    plain = sample_clip(stream, 2, TINY_RUN.clip), sample_clip(stream, 2, TINY_RUN.clip, redraw=True)
    assert np.array_equal(plain[0].pose, plain[1].pose) and not np.array_equal(plain[0].clip, plain[1].clip)
    with pytest.raises(SettingError, match="at least two renderers"):
        partner(StreamConfig(seed=4), 0)
    with pytest.raises(SettingError, match="even batch"):
        PretrainConfig(batch_size=5, invariance=0.5)
    with pytest.raises(SettingError, match="at least two renderers"):  # before anything is drawn or written
        pretrain_supervised(tmp_path / "one", TINY_RUN, PretrainConfig(steps=1, batch_size=2, invariance=0.5), StreamConfig(seed=4))
    assert not (tmp_path / "one").exists()

    torch.manual_seed(0)
    model = Hiera(TINY)
    dense = DenseHead(model)
    batch = tuple(torch.stack(v) for v in zip(*items, strict=True))
    total, parts = pretraining_loss(model, dense, batch, recipe)
    base, base_parts = pretraining_loss(model, dense, batch, replace(recipe, invariance=0.0))
    pooled = model.forward_features(batch[0])
    expected = 1 - torch.nn.functional.cosine_similarity(pooled[0::2], pooled[1::2], dim=1).mean()
    assert "invariance" not in base_parts and parts["invariance"] == pytest.approx(expected.item(), rel=1e-5)
    assert total.item() == pytest.approx(base.item() + 0.5 * parts["invariance"], rel=1e-5) and parts["invariance"] > 1e-4
    twins = (batch[0][0::2].repeat_interleave(2, dim=0), *batch[1:])  # each pair the same picture twice: nothing to pull
    assert pretraining_loss(model, dense, twins, recipe)[1]["invariance"] == pytest.approx(0.0, abs=1e-6)
    # A few steps of the loss with a strong pull bring the two pictures' features together.
    _train(model, dense, batch, replace(recipe, invariance=5.0), 20)
    assert pretraining_loss(model, dense, batch, recipe)[1]["invariance"] < 0.5 * parts["invariance"]


def test_a_setting_an_older_run_predates_counts_as_its_default():
    defaults = {"train": {"lr": 1e-4, "motion": False}, "seed": 0}
    assert same_settings({"train": {"lr": 1e-3}}, {"train": {"lr": 1e-3, "motion": False}}, defaults)
    assert not same_settings({"train": {"lr": 1e-3}}, {"train": {"lr": 1e-3, "motion": True}}, defaults)
    assert not same_settings({"train": {"lr": 1e-3}}, {"train": {"lr": 1e-4}}, defaults)  # saved, and changed
    assert not same_settings({"train": {"lr": 1e-3}, "gone": 1}, {"train": {"lr": 1e-3}}, defaults)
    assert not same_settings({}, {"new": 1}, defaults)  # no default known: a difference
    assert same_settings({}, {"seed": 0}, defaults) and not same_settings({}, {"seed": 1}, defaults)


def _recipe() -> PretrainConfig:
    return PretrainConfig(steps=6, batch_size=4, lr=1e-3, warmup=2, val_clips=8, eval_every=3)


@pytest.mark.slow
def test_pretrain_writes_a_backbone_resumes_and_fine_tuning_accepts_it(tmp_path):
    stream = StreamConfig(seed=11)
    full = tmp_path / "full"
    record = pretrain_supervised(full, TINY_RUN, _recipe(), stream, workers=0)
    lines = [json.loads(line) for line in (full / "pretrain.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [3, 6] and record == lines[-1]
    assert 0.0 <= record["val_auc"] <= 1.0 and record["easy"] < 1.0
    # Each line says where it was computed: a GPU's name where torch sees one; here and in CI the processor and the
    # vector instructions torch runs on it, since a run repeats only on the same kind of processor.
    if torch.cuda.is_available():
        assert {r["device"] for r in lines} == {"cuda: " + torch.cuda.get_device_name()}
    else:
        (where,) = {r["device"] for r in lines}
        capability = ", " + torch.backends.cpu.get_cpu_capability()
        assert where.startswith("cpu: ") and where.endswith(capability)
        processor = where.removeprefix("cpu: ").removesuffix(capability)
        cpuinfo = Path("/proc/cpuinfo")
        named = {line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")} if cpuinfo.exists() else set()
        assert processor and (not named or processor in named)
    meta = read_model_config(full)
    assert meta["kind"] == "backbone" and meta["pretrain"]["steps"] == 6

    # Killed after step 4: the checkpoint of step 3 is kept and the re-run ends where the uninterrupted run did.
    cut = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        pretrain_supervised(cut, TINY_RUN, _recipe(), stream, workers=0, progress=interrupt_after(4))
    assert len((cut / "pretrain.jsonl").read_text().splitlines()) == 1
    # Saved by an older spasmscope, before the sensor-and-codec and motion-channel settings existed: both are at their
    # defaults now, so it is the same run and resumes.
    saved = torch.load(cut / "resume.pt", weights_only=True)
    del saved["recipe"]["pretrain"]["degrade_p"], saved["config"]["model"]["motion"]
    torch.save(saved, cut / "resume.pt")
    pretrain_supervised(cut, TINY_RUN, _recipe(), stream, workers=0)
    a, _, _ = load_model(full)
    b, _, _ = load_model(cut)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    with pytest.raises(InputError, match="another recipe"):
        pretrain_supervised(cut, TINY_RUN, replace(_recipe(), lr=5e-4), stream, workers=0)

    # Fine-tuning from it: every tensor comes from the file, the spasm head included (it learnt the very task).
    assert read_model_config(full)["head"] == "spasm"
    torch.manual_seed(0)
    model = Hiera(TINY)
    info = load_backbone(model, str(full))
    assert info["licence"] == "" and info["head"] == "pretrained spasm head"
    for name, p in model.state_dict().items():
        assert torch.equal(p, a.state_dict()[name]), name
    # Without the config's word for it, the same weights give a fresh head.
    meta = read_model_config(full)
    meta.pop("head")
    (full / "config.json").write_text(json.dumps(meta))
    info = load_backbone(model, str(full))
    assert info["head"] == "new"
    for name, p in model.state_dict().items():
        if name in HEAD_KEYS:
            assert p.abs().max() < 1e-3  # fresh head, near-zero logits
        else:
            assert torch.equal(p, a.state_dict()[name]), name


def test_pretraining_on_a_cpu_leaves_each_drawing_worker_its_core_and_puts_the_threads_back(tmp_path):
    """With one clip-drawing worker, training runs on the cores it leaves (at least one), as each log line records;
    ``threads`` overrides that; torch's thread count after the run is the caller's again."""
    if torch.cuda.is_available():
        pytest.skip("on a GPU, torch's own thread count is left as it is")
    before = torch.get_num_threads()
    recipe = PretrainConfig(steps=2, batch_size=2, warmup=1, val_clips=4, eval_every=1)
    pretrain_supervised(tmp_path / "beside", TINY_RUN, recipe, StreamConfig(seed=12), workers=1)
    lines = [json.loads(line) for line in (tmp_path / "beside" / "pretrain.jsonl").read_text().splitlines()]
    assert [r["threads"] for r in lines] == [max(1, (os.cpu_count() or 1) - 1)] * 2
    assert torch.get_num_threads() == before
    pretrain_supervised(tmp_path / "alone", TINY_RUN, recipe, StreamConfig(seed=12), workers=0, threads=1)
    assert {json.loads(line)["threads"] for line in (tmp_path / "alone" / "pretrain.jsonl").read_text().splitlines()} == {1}
    assert torch.get_num_threads() == before
    assert training_threads(0) == (os.cpu_count() or 1) and training_threads(64) == 1


def test_the_shipped_backbone_loads_into_the_cpu_preset_only():
    folder = embedded_backbone()
    meta = read_model_config(folder)
    assert meta["kind"] == "backbone"
    assert (folder / "MODEL_CARD.md").is_file()
    assert (folder / "model.safetensors").stat().st_size < 20 * 2**20
    model = Hiera(preset("cpu").model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    info = load_backbone(model, "default")
    assert info["file"] == str(folder) and info["head"] == "pretrained spasm head"
    shipped = load_model(folder)[0].state_dict()
    assert all(torch.equal(model.state_dict()[k], shipped[k]) for k in HEAD_KEYS)
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert set(changed) >= set(model.state_dict()) - set(HEAD_KEYS) - {k for k in before if "bias" in k}
    with pytest.raises(InputError, match="pass --weights none"):
        load_backbone(Hiera(TINY), "default")
    # It reads the motion channels, as the cpu preset does; a pixels-only model cannot take its patch kernel.
    assert preset("cpu").model.motion
    with pytest.raises(InputError, match="does not fit this model"):
        load_backbone(Hiera(replace(preset("cpu").model, motion=False)), "default")
    # A motion-only model (pixels blanked) keeps the kernel's shape and takes every weight as it is; so does one that
    # standardises each clip (no parameters of its own).
    for changes in ({"pixels": False}, {"standardise": True}):
        other = Hiera(replace(preset("cpu").model, **changes))
        load_backbone(other, "default")
        assert all(torch.equal(other.state_dict()[k], v) for k, v in shipped.items())
    # A run without --weights starts from it only when its model is the cpu preset's Hiera, at any clip size: in
    # 96-px clips its position embeddings are resized and every other weight, the spasm head included, is its own.
    assert default_weights(preset("cpu")) == "default"
    assert default_weights(TINY_RUN) == "none"
    cpu = preset("cpu")
    large_run = replace(cpu, model=replace(cpu.model, input_size=(16, 96, 96)), clip=replace(cpu.clip, size=96))
    assert default_weights(large_run) == "default"
    large = Hiera(large_run.model)
    assert load_backbone(large, "default")["head"] == "pretrained spasm head"
    assert large.pos_embed_spatial.shape == (1, 24 * 24, 32)
    assert all(torch.equal(v, shipped[k]) for k, v in large.state_dict().items() if k != "pos_embed_spatial")
    with torch.no_grad():
        assert torch.isfinite(large.eval()(torch.rand(2, 3, 16, 96, 96))).all()


def test_held_out_arms_builds_a_shipped_arm_from_history_and_measures_nothing_when_asked(tmp_path):
    """benchmarks/held_out_arms.sh: BUILD_ONLY=1 takes the silhouette row's arm S and the articulated row's arm C8
    as this checkout records them, and with SILHOUETTE_ARM=stages-1-7 that older arm out of the git history, each
    checked against its SHA-256, and starts no cross-validation; with no arm recorded, DRY_RUN=1 prints the shaded
    row's pretraining, which continues stages 1-7, and the articulated and silhouette rows' arms that ARTICULATED_ARM
    and SILHOUETTE_ARM name; a name it does not know is refused in one line."""
    root = Path(__file__).resolve().parents[1]
    if subprocess.run(["git", "-C", str(root), "cat-file", "-e", "9ad484b"], capture_output=True).returncode:
        pytest.skip("the commit of stages 1-7 is not in this checkout's history (a shallow clone)")
    # The arms are the script's defaults and its own record, whatever the caller's shell names.
    caller = {k: v for k, v in os.environ.items() if k not in ("ARTICULATED_ARM", "SILHOUETTE_ARM", "ARMS")}
    env = {**caller, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "HELD_OUT": "silhouette"}
    script = root / "benchmarks" / "held_out_arms.sh"
    both = {**env, "HELD_OUT": "silhouette articulated"}
    # Both default arms are recorded here, so there is nothing to pretrain: checked first, since BUILD_ONLY=1 would
    # pretrain an arm that is not recorded for hours.
    dry = subprocess.run(["bash", str(script), str(tmp_path / "recorded")], env={**both, "DRY_RUN": "1"}, capture_output=True, text=True)
    assert dry.returncode == 0 and dry.stdout == "", dry.stdout + dry.stderr
    recorded = subprocess.run(["bash", str(script), str(tmp_path / "recorded")], env={**both, "BUILD_ONLY": "1"}, capture_output=True, text=True)
    assert recorded.returncode == 0, recorded.stderr
    for arm, expected in (("S", "f2a2ad76fdab88032653b4d53fff00064459ed187d97a3deb59ec871838cf893"), ("C8", "12b2705699e971c1f9b1d499708e7fa3c10b2ece6b1f4e562dc68bf7ab874376")):
        assert hashlib.sha256((tmp_path / "recorded" / arm / "model.safetensors").read_bytes()).hexdigest() == expected, arm
    # A finished arm needs no stage before it.
    assert sorted(p.name for p in (tmp_path / "recorded").iterdir()) == ["C8", "S", "motion.toml"]
    env["ARMS"] = str(tmp_path / "no-arms")  # from here on, the recipes as they pretrain with nothing recorded
    built = subprocess.run(["bash", str(script), str(tmp_path)], env={**env, "BUILD_ONLY": "1", "SILHOUETTE_ARM": "stages-1-7"}, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    digest = hashlib.sha256((tmp_path / "stages-1-7" / "model.safetensors").read_bytes()).hexdigest()
    assert digest == "0332bc265ae36975a4908159c8b901401a7d3179f19faa56e31b3c941b6546c8"
    assert not (tmp_path / "benchmark").exists()
    dry = subprocess.run(["bash", str(script), str(tmp_path)], env={**env, "DRY_RUN": "1", "HELD_OUT": "shaded"}, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    (command,) = dry.stdout.splitlines()
    assert f"--out {tmp_path}/G --steps 5300" in command and f"--weights {tmp_path}/stages-1-7" in command
    assert "--renderers articulated,silhouette,photo,splat" in command
    assert not (tmp_path / "G").exists() and not (tmp_path / "benchmark").exists()
    # The articulated row's arm C (RULE 14; C8 by default): seven stages from random weights, an eighth for C8; the
    # older five-stage arm A5; no other arm.
    for arm, stages, last_start in (("C7", 7, "C6"), ("C8", 8, "C7"), (None, 8, "C7"), ("A5", 5, "A4")):
        chosen = {"ARTICULATED_ARM": arm} if arm else {}
        dry = subprocess.run(["bash", str(script), str(tmp_path)], env={**env, "DRY_RUN": "1", "HELD_OUT": "articulated", **chosen}, capture_output=True, text=True)
        commands = dry.stdout.splitlines()
        assert dry.returncode == 0 and len(commands) == stages, dry.stderr
        assert "--weights none" in commands[0] and f"--weights {tmp_path}/{last_start}" in commands[-1]
        assert all("--renderers silhouette,photo,shaded,splat" in c for c in commands)
    # The silhouette row's arm S (RULE 16, the default): stages 1-7 continued on the four other renderers; stages 1-7
    # itself builds none.
    dry = subprocess.run(["bash", str(script), str(tmp_path)], env={**env, "DRY_RUN": "1"}, capture_output=True, text=True)
    (command,) = dry.stdout.splitlines()
    assert dry.returncode == 0 and f"--out {tmp_path}/S --steps 5300" in command and f"--weights {tmp_path}/stages-1-7" in command
    assert "--renderers articulated,photo,shaded,splat" in command
    older = subprocess.run(["bash", str(script), str(tmp_path)], env={**env, "DRY_RUN": "1", "SILHOUETTE_ARM": "stages-1-7"}, capture_output=True, text=True)
    assert older.returncode == 0 and older.stdout == ""
    for name, value, said in (("ARTICULATED_ARM", "C9", "ARTICULATED_ARM=C9"), ("SILHOUETTE_ARM", "G", "SILHOUETTE_ARM=G"), ("HELD_OUT", "stages-1-7", "'stages-1-7'")):
        wrong = subprocess.run(["bash", str(script), str(tmp_path)], env={**env, name: value}, capture_output=True, text=True)
        assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and said in wrong.stderr


def test_held_out_arms_takes_recorded_arms_and_refuses_changed_ones(tmp_path):
    """benchmarks/record_arm.sh records a finished stage (the shipped backbone's files) and a stage stopped part-way
    in ARMS; held_out_arms.sh then copies the finished arm in and pretrains none of its stages, copies the part-way
    stage in and resumes it (its pretraining printed), leaves a folder that got further alone, and refuses a recorded
    file changed since in one line, naming the folder."""
    root = Path(__file__).resolve().parents[1]
    script, recorder = root / "benchmarks" / "held_out_arms.sh", root / "benchmarks" / "record_arm.sh"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "ARMS": str(tmp_path / "arms"), "DRY_RUN": "1"}
    built = tmp_path / "built"
    (built / "P4").mkdir(parents=True)
    for file in ("model.safetensors", "config.json", "pretrain.jsonl"):
        (built / "P4" / file).write_bytes((Path(embedded_backbone()) / file).read_bytes())
    (built / "C1").mkdir()
    (built / "C1" / "resume.pt").write_bytes(b"state")
    (built / "C1" / "pretrain.jsonl").write_text('{"step": 300}\n')
    for name in ("P4", "C1"):
        subprocess.run(["bash", str(recorder), str(built), name], env=env, check=True, capture_output=True)
    assert sorted(p.name for p in (tmp_path / "arms" / "C1").iterdir()) == ["SHA256SUMS", "pretrain.jsonl", "resume.pt"]
    nothing = subprocess.run(["bash", str(recorder), str(built), "G"], env=env, capture_output=True, text=True)
    assert nothing.returncode == 2 and nothing.stderr.count("\n") == 1 and str(built / "G") in nothing.stderr

    out = tmp_path / "out"
    taken = subprocess.run(["bash", str(script), str(out)], env={**env, "HELD_OUT": "photo"}, capture_output=True, text=True)
    assert taken.returncode == 0 and taken.stdout == "", taken.stderr
    assert (out / "P4" / "model.safetensors").read_bytes() == (built / "P4" / "model.safetensors").read_bytes()
    assert not (out / "P").exists() and not (out / "stages-1-7").exists()
    # Part-way: arm C's first stage at step 300 of 5,000; the seven stages are still printed, C1 resumes.
    resumed = subprocess.run(["bash", str(script), str(out)], env={**env, "HELD_OUT": "articulated", "ARTICULATED_ARM": "C7"}, capture_output=True, text=True)
    assert resumed.returncode == 0 and len(resumed.stdout.splitlines()) == 7, resumed.stderr
    assert (out / "C1" / "resume.pt").read_bytes() == b"state"
    (out / "C1" / "pretrain.jsonl").write_text('{"step": 300}\n{"step": 400}\n')
    (out / "C1" / "resume.pt").write_bytes(b"later")
    subprocess.run(["bash", str(script), str(out)], env={**env, "HELD_OUT": "articulated", "ARTICULATED_ARM": "C7"}, check=True, capture_output=True)
    assert (out / "C1" / "resume.pt").read_bytes() == b"later"
    (tmp_path / "arms" / "P4" / "config.json").write_text("{}")
    changed = subprocess.run(["bash", str(script), str(tmp_path / "fresh")], env={**env, "HELD_OUT": "photo"}, capture_output=True, text=True)
    assert changed.returncode == 2 and changed.stderr.count("\n") == 1 and str(tmp_path / "arms" / "P4") in changed.stderr
    assert not (tmp_path / "fresh" / "P4").exists()


@pytest.mark.parametrize("script", ["record_arm.sh", "held_out_arms.sh", "leave_one_renderer_out.sh", "shifted_look.sh", "mae_effect.sh"])
def test_arm_scripts_outside_the_environment_say_so_in_one_line(script, tmp_path):
    """Run with a python that cannot import spasmscope (the project's environment not active), each benchmark script
    that runs the project's Python stops with one line naming the fix, exit 2, and leaves nothing behind, where
    record_arm.sh used to half-copy a stage."""
    root = Path(__file__).resolve().parents[1]
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python").symlink_to(sys.base_prefix + "/bin/python3")  # the interpreter the environment was made from
    env = {**os.environ, "PATH": f"{bare}{os.pathsep}/usr/bin{os.pathsep}/bin", "ARMS": str(tmp_path / "arms"), "PYTHONPATH": ""}
    env.pop("VIRTUAL_ENV", None)
    r = subprocess.run(["bash", str(root / "benchmarks" / script), str(tmp_path / "out"), "C1"], env=env, capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "source .venv/bin/activate" in r.stderr, r.stderr
    assert not (tmp_path / "arms").exists() and not (tmp_path / "out").exists()


def test_backbone_step_reads_a_folder_from_its_files_without_loading_torch(tmp_path):
    """benchmarks/backbone_step.py, which the arm scripts run before every stage, reads how far a folder got: the
    shipped backbone's final step (its config.json) and the renderers of its last stage, the last step of a log, 0 for
    an empty folder. It loads no torch, which took seconds a call."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "backbone_step.py"
    shipped = json.loads((embedded_backbone() / "config.json").read_text())
    (tmp_path / "part").mkdir()
    (tmp_path / "part" / "pretrain.jsonl").write_text('{"step": 100}\n{"step": 200}\n')
    # The script run as the scripts run it, then asked whether torch came in with it.
    probe = "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__'); print('torch' in sys.modules)"

    def step(*args: str) -> list[str]:
        r = subprocess.run([sys.executable, "-c", probe, str(script), *args], capture_output=True, text=True, check=True)
        return r.stdout.splitlines()

    assert step(str(embedded_backbone())) == [str(shipped["final"]["step"]), "False"]
    assert step(str(embedded_backbone()), "--renderers") == [" ".join(shipped["stream"]["renderers"]), "False"]
    assert step(str(tmp_path / "part"), "--logged") == ["200", "False"]
    assert step(str(tmp_path / "part")) == ["0", "False"]
    assert step(str(tmp_path / "none"), "--logged") == ["0", "False"]


def test_the_held_out_summary_takes_the_lowest_figures_of_every_row_and_refuses_a_row_with_no_line(tmp_path):
    """benchmarks/held_out_summary.py, leave_one_renderer_out.sh's last step: over the named rows' result lines, the
    lowest pooled AUC, gain and spasm-against-startle AUC, whether every row reaches 0.90, and the lowest AUC of each
    re-filmed copy among the rows that have one; a named row with no line is refused in one line, naming it."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "held_out_summary.py"
    rows = {
        "photo": {"auc": 0.927, "gain": 0.408, "spasm_vs_startle_auc": 0.929, "auc_rerecorded": 0.922, "auc_hand": 0.833},
        "splat": {"auc": 0.98, "gain": 0.425, "spasm_vs_startle_auc": 0.98},
        "shaded": {"auc": 0.899, "gain": 0.4, "spasm_vs_startle_auc": None, "auc_rerecorded": 0.914, "auc_hand": 0.865},
    }
    for name, row in rows.items():
        (tmp_path / f"result-{name}.json").write_text(json.dumps({"held_out": name, **row}))

    def summary(*names: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(script), str(tmp_path), *names], capture_output=True, text=True)

    both = summary("photo", "splat")
    assert both.returncode == 0, both.stderr
    assert json.loads(both.stdout) == {"renderers": 2, "auc_min": 0.927, "all_at_or_above_0.90": True, "gain_min": 0.408, "spasm_vs_startle_min": 0.929,
                                       "auc_rerecorded_min": 0.922, "auc_hand_min": 0.833}  # fmt: skip
    # A row under the aim fails the aim; a row whose startles were not measured counts as 0 against startle.
    three = json.loads(summary("photo", "splat", "shaded").stdout)
    assert three["auc_min"] == 0.899 and three["all_at_or_above_0.90"] is False and three["spasm_vs_startle_min"] == 0
    assert three["gain_min"] == 0.4 and three["auc_rerecorded_min"] == 0.914 and three["auc_hand_min"] == 0.833
    assert json.loads(summary("splat").stdout)["auc_hand_min"] is None
    missing = summary("photo", "silhouette")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "silhouette" in missing.stderr and missing.stdout == ""
