"""Motion channels: the camera's shift found as scikit-image finds it, taken out of the differences, and a model that
reads them starting exactly where a pixels-only backbone stands."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from skimage import data
from skimage.registration import phase_cross_correlation

from spasmscope.model.config import preset
from spasmscope.model.hiera import Hiera, standardise
from spasmscope.model.motion import picture_shifts, stabilised_differences
from spasmscope.model.weights import load_backbone


def _hand_held(frames: int, size: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """A still photograph filmed by a shaking camera: ``[1, 3, T, size, size]`` windows of a larger picture that
    walk by whole pixels, and the walk's steps ``[T, 2]`` (how far the picture moved between frames)."""
    picture = torch.tensor(data.astronaut(), dtype=torch.float32).permute(2, 0, 1) / 255
    steps = np.random.default_rng(seed).integers(-3, 4, (frames, 2))
    steps[0] = 0
    top, left = 200 - np.cumsum(steps[:, 0]), 200 - np.cumsum(steps[:, 1])  # the window moves against the picture
    clip = torch.stack([picture[:, y : y + size, x : x + size] for y, x in zip(top, left, strict=True)], 1)
    return clip[None], steps


def test_camera_shifts_are_the_ones_scikit_image_finds_and_the_ones_made():
    clip, steps = _hand_held(16, 64, seed=3)
    shifts = picture_shifts(clip.mean(1))[0].numpy()
    grey = clip.mean(1)[0].numpy()
    reference = [phase_cross_correlation(grey[t], grey[t - 1])[0] for t in range(1, 16)]
    assert np.array_equal(shifts[1:], np.array(reference, dtype=int))
    assert np.array_equal(shifts, steps)
    assert np.any(steps != 0)  # the test would pass on a tripod too otherwise


def test_differences_of_a_still_scene_filmed_hand_held_vanish_and_a_moving_limb_stays():
    clip, steps = _hand_held(16, 64, seed=5)
    plain = clip[:, :, 1:] - clip[:, :, :-1]
    assert plain.abs().mean() > 0.05  # shake alone moves every edge
    assert stabilised_differences(clip).abs().max() < 1e-6

    # A tripod, and a bright block (a limb) that moves down 2 pixels between frames 7 and 8 only.
    still = clip[:, :, :1].repeat(1, 1, 16, 1, 1).clone()
    for t in range(16):
        y = 20 if t < 8 else 22
        still[:, :, t, y : y + 6, 30:36] = 1.0
    moved = stabilised_differences(still)
    assert moved[:, :, 0].abs().max() == 0
    changed = moved.abs().amax(dim=(0, 1, 3, 4))
    assert changed[8] > 0.1 and torch.all(changed[torch.arange(16) != 8] < 1e-6)
    rows = moved[0, :, 8].abs().amax(dim=(0, 2)).nonzero().flatten().tolist()
    assert rows == [20, 21, 26, 27]  # where the block left and where it arrived, nothing else


def test_a_shift_beyond_the_limit_is_taken_as_movement_not_as_the_camera():
    clip, _ = _hand_held(2, 64, seed=0)
    far = torch.stack([clip[:, :, 0], torch.roll(clip[:, :, 0], 10, 2)], 2)  # 10 px: no phone shakes so fast
    assert picture_shifts(far.mean(1))[0, 1].tolist() == [0, 0]
    assert picture_shifts(far.mean(1), max_shift=12)[0, 1].tolist() == [10, 0]


def test_a_motion_model_starts_from_a_pixels_backbone_exactly_and_learns_its_motion_kernels(tmp_path):
    cfg = preset("cpu")
    torch.manual_seed(0)
    backbone = str(tmp_path / "pixels.safetensors")
    save_file(Hiera(replace(cfg.model, motion=False)).state_dict(), backbone)
    pixels, motion = Hiera(replace(cfg.model, motion=False)).eval(), Hiera(replace(cfg.model, motion=True)).eval()
    assert load_backbone(pixels, backbone)["head"] == load_backbone(motion, backbone)["head"] == "new"
    motion.head.load_state_dict(pixels.head.state_dict())  # a new head is drawn at random: the same one for both
    x = torch.randn(2, 3, 16, 64, 64)
    with torch.no_grad():
        assert torch.allclose(pixels(x), motion(x), atol=1e-6)
    assert motion.patch_embed.proj.weight.shape[1] == 6 and motion.patch_embed.proj.weight[:, 3:].abs().max() == 0
    motion.train()
    motion(x).sum().backward()
    assert motion.patch_embed.proj.weight.grad[:, 3:].abs().max() > 0


@pytest.mark.parametrize("shape", [(1, 3, 16, 64, 64), (2, 3, 8, 32, 48)])
def test_differences_keep_the_clip_shape(shape):
    assert stabilised_differences(torch.randn(shape)).shape == shape


def test_a_motion_only_model_reads_what_moved_and_not_what_the_still_picture_looks_like():
    # One movement (a block that jumps 3 px back and forth) over a still scene, and the same with a second still
    # photograph laid over it: a model that reads only the motion channels scores both alike, one that also reads
    # the pixels does not. (A scene with structure of its own keeps the block's jump from being taken for the
    # camera's shift, which would leave the still pictures in the differences.)
    scene = torch.tensor(data.astronaut()[100:164, 200:264], dtype=torch.float32).permute(2, 0, 1)[None, :, None] / 255
    moving = scene.repeat(1, 1, 16, 1, 1).clone()
    for t in range(16):
        y = 10 if t % 4 < 2 else 13
        moving[:, :, t, y : y + 8, 20:40] += 0.4
    photo = torch.tensor(data.chelsea()[:64, :64], dtype=torch.float32).permute(2, 0, 1)[None, :, None] / 255
    textured = moving + 0.5 * (photo - photo.mean())
    assert (textured - moving).abs().mean() > 0.05
    cfg = replace(preset("cpu").model, motion=True)
    torch.manual_seed(0)
    both = Hiera(cfg).eval()
    only = Hiera(replace(cfg, pixels=False)).eval()
    only.load_state_dict(both.state_dict())  # the same weights, the same six-channel kernel
    with torch.no_grad():
        # Features rather than the logit: a new head's logits are all near zero.
        assert torch.allclose(only.forward_features(moving), only.forward_features(textured), atol=1e-5)
        assert (both.forward_features(moving) - both.forward_features(textured)).abs().max() > 0.05
    with pytest.raises(ValueError, match="motion=true"):
        replace(cfg, motion=False, pixels=False)


def test_a_standardising_model_reads_a_dim_tinted_clip_as_the_bright_one():
    # The same moving scene by day and as a dim camera with another white balance records it (a tenth of the
    # contrast, darker, tinted): a model that standardises each clip gives both the same features; the same weights
    # without it do not.
    clip, _ = _hand_held(16, 64, seed=7)
    clip[:, :, 8:, 20:30, 20:40] += 0.3  # something moves in the second half

    def per_channel(values: list[float]) -> torch.Tensor:
        return torch.tensor(values)[None, :, None, None, None]

    mean, std, tint = per_channel([0.45, 0.45, 0.40]), per_channel([0.225, 0.225, 0.225]), per_channel([1.0, 0.8, 1.3])
    bright = (clip - mean) / std  # Kinetics-normalised, as the model takes clips
    dim = (0.1 * tint * clip + 0.05 - mean) / std
    cfg = replace(preset("cpu").model, motion=True)
    torch.manual_seed(0)
    plain = Hiera(cfg).eval()
    standard = Hiera(replace(cfg, standardise=True)).eval()
    standard.load_state_dict(plain.state_dict())  # no parameters of its own
    with torch.no_grad():
        assert torch.allclose(standard.forward_features(bright), standard.forward_features(dim), atol=1e-4)
        assert (plain.forward_features(bright) - plain.forward_features(dim)).abs().max() > 0.05
    # Each channel of each clip to mean 0 and spread 1 (NumPy's, with the unbiased spread torch uses) ...
    x = torch.randn(2, 3, 4, 8, 8) * torch.tensor([0.2, 3.0])[:, None, None, None, None] + per_channel([1.5, -1.0, 0.0])
    flat = x.flatten(2).numpy().astype(np.float64)
    expected = (flat - flat.mean(2, keepdims=True)) / flat.std(2, ddof=1, keepdims=True)
    assert np.allclose(standardise(x).flatten(2).numpy(), expected, atol=1e-5)
    # ... but a clip flatter than the floor (sensor noise on an empty picture) is not stretched into a picture.
    empty = 0.3 + 0.001 * torch.randn(1, 3, 4, 8, 8)
    assert standardise(empty).std() < 0.05
