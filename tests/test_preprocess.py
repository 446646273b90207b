"""Preprocessing (METHOD §3): trilinear resize, spatial and temporal modes, augmentation, normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spasmscope.data.preprocess import (
    PAD_VALUE,
    Augmentation,
    ClipConfig,
    ColourJitter,
    Zoom,
    apply_augmentation,
    apply_colour_jitter,
    apply_zoom,
    clip_indices,
    clip_taps,
    decode_size,
    make_clips,
    normalise,
    resize_clip,
    sample_augmentation,
    sample_colour_jitter,
    sample_zoom,
    to_square,
)


def _source_coords(n_in: int, n_out: int) -> np.ndarray:
    """Sample positions of align_corners=False interpolation (half-pixel centres), clamped to the input."""
    return np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)


def test_trilinear_resize_is_exact_on_a_linear_clip():
    # Linear interpolation reproduces a linear function of (t, y, x) exactly at its sample positions.
    t, h, w = 150, 40, 64
    tt, yy, xx = np.meshgrid(np.arange(t), np.arange(h), np.arange(w), indexing="ij")
    clip = np.stack([tt * 1.0, yy * 5.0, xx * 3.0], axis=-1)  # integer slopes: the uint8 input is exactly linear
    out = resize_clip(clip.round().astype(np.uint8), 16, 24)
    assert out.shape == (16, 24, 24, 3) and out.dtype == np.uint8
    ts, ys, xs = _source_coords(t, 16), _source_coords(h, 24), _source_coords(w, 24)
    assert np.abs(out[..., 0] - 1.0 * ts[:, None, None]).max() <= 0.51
    assert np.abs(out[..., 1] - 5.0 * ys[None, :, None]).max() <= 0.51
    assert np.abs(out[..., 2] - 3.0 * xs[None, None, :]).max() <= 0.51


def test_resize_matches_torch_reference_and_identity():
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, (30, 20, 28, 3), dtype=np.uint8)
    ref = torch.nn.functional.interpolate(torch.from_numpy(clip).permute(3, 0, 1, 2)[None].float(), size=(8, 16, 16), mode="trilinear", align_corners=False)
    ref = ref[0].permute(1, 2, 3, 0).round().clamp(0, 255).byte().numpy()
    assert np.array_equal(resize_clip(clip, 8, 16), ref)
    square = clip[:, :20, :20]
    assert np.array_equal(resize_clip(square, 30, 20), square)


def test_spatial_modes():
    frames = np.zeros((2, 60, 100, 3), np.uint8)
    frames[:, :, 20:80] = 200
    padded, cropped = to_square(frames, "pad"), to_square(frames, "crop")
    assert padded.shape == (2, 100, 100, 3) and cropped.shape == (2, 60, 60, 3)
    assert np.all(padded[:, :20] == PAD_VALUE) and np.all(padded[:, 20:80, 20:80] == 200)
    assert np.all(cropped == 200)  # the centre 60 columns are 20..80
    assert to_square(frames, "squash") is frames


def test_decode_size_bounds_memory_and_keeps_aspect_where_needed():
    cfg = ClipConfig(size=224)
    assert decode_size(1920, 1080, cfg) == (448, 448)
    assert decode_size(426, 240, cfg) == (426, 240)  # never upscaled
    assert decode_size(1920, 1080, ClipConfig(size=224, spatial="pad")) == (448, 252)
    assert decode_size(1080, 1920, ClipConfig(size=224, spatial="crop")) == (448, 796)


def test_temporal_modes():
    frames = np.broadcast_to(np.arange(150, dtype=np.uint8)[:, None, None, None], (150, 8, 8, 3)).copy()
    resized = make_clips(frames, ClipConfig(frames=16, size=8))
    assert resized.shape == (1, 16, 8, 8, 3)
    assert np.allclose(resized[0, :, 0, 0, 0], _source_coords(150, 16), atol=0.51)
    clips = make_clips(frames, ClipConfig(frames=16, size=8, temporal="clips", clips=3))
    assert clips.shape == (3, 16, 8, 8, 3)
    idx = clip_indices(150, 3)
    assert np.array_equal(clips[:, :, 0, 0, 0], idx)
    assert idx[0, 0] == 0 and idx[-1, -1] == 149 and np.all(np.diff(idx, axis=1) == 4)


def test_a_second_phase_reads_the_segment_later_and_only_from_the_taps():
    # Each source frame's grey level is its index, so a clip frame's grey level is the time it was read at. Phase 1 of
    # two is read half an output interval later (150 / 32 = 4.7, so 5 source frames), the last frame held past the end.
    frames = np.broadcast_to(np.arange(150, dtype=np.uint8)[:, None, None, None], (150, 8, 8, 3)).copy()
    cfg = ClipConfig(frames=16, size=8, phases=2)
    both = make_clips(frames, cfg)
    assert both.shape == (2, 16, 8, 8, 3)
    assert np.array_equal(both[0], make_clips(frames, ClipConfig(frames=16, size=8))[0])
    at = (np.arange(16) + 0.5) * 150 / 16 - 0.5
    assert np.array_equal(both[1, :, 0, 0, 0], np.round(np.minimum(at + 5, 149)))
    # clip_taps names every frame either phase reads: the others may hold anything.
    taps = clip_taps(150, cfg)
    noise = np.random.default_rng(0).integers(0, 256, frames.shape, dtype=np.uint8)
    noise[taps] = frames[taps]
    assert np.array_equal(make_clips(noise, cfg), both)
    assert len(taps) > len(clip_taps(150, ClipConfig(frames=16, size=8)))


@pytest.mark.parametrize("bad", [dict(temporal="sparse"), dict(spatial="zoom"), dict(frames=0), dict(clips=0), dict(phases=0), dict(phases=2, temporal="clips")])
def test_config_rejects_bad_values_naming_them(bad):
    with pytest.raises(ValueError, match=str(list(bad.values())[0])):
        ClipConfig(**bad)


def test_augmentations_sample_record_replay():
    rng = np.random.default_rng(3)
    clip = np.random.default_rng(4).integers(0, 256, (2, 4, 16, 16, 3), dtype=np.uint8)
    seen = set()
    for _ in range(200):
        aug = sample_augmentation(rng)
        seen.add((aug.vflip, aug.hflip, aug.rotate, aug.invert))
        replay = Augmentation(**aug.as_dict())
        assert np.array_equal(apply_augmentation(clip, aug), apply_augmentation(clip, replay))
    assert {r for _, _, r, _ in seen} == {-1, 0, 1} and len(seen) > 20
    none = sample_augmentation(rng, p=0.0)
    assert none == Augmentation() and np.array_equal(apply_augmentation(clip, none), clip)


def test_augmentation_geometry():
    img = np.zeros((1, 4, 4, 3), np.uint8)
    img[0, 0, 3] = 255  # top-right corner
    assert apply_augmentation(img, Augmentation(vflip=True))[0, 3, 3, 0] == 255
    assert apply_augmentation(img, Augmentation(hflip=True))[0, 0, 0, 0] == 255
    assert apply_augmentation(img, Augmentation(rotate=-1))[0, 3, 3, 0] == 255  # clockwise: top-right -> bottom-right
    assert apply_augmentation(img, Augmentation(rotate=1))[0, 0, 0, 0] == 255  # counter-clockwise: -> top-left
    inv = Augmentation(invert=True)
    assert np.array_equal(apply_augmentation(apply_augmentation(img, inv), inv), img)


@pytest.mark.parametrize("aug", [Augmentation(vflip=True), Augmentation(hflip=True), Augmentation(rotate=1), Augmentation(rotate=-1), Augmentation(invert=True)])
def test_augmentations_commute_with_the_square_resize(aug):
    # So the cache can hold unaugmented clips: augmenting raw frames then resizing == resizing then augmenting.
    frames = np.random.default_rng(5).integers(0, 256, (20, 36, 36, 3), dtype=np.uint8)
    a = resize_clip(apply_augmentation(frames, aug), 8, 12)
    b = apply_augmentation(resize_clip(frames, 8, 12), aug)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # rounding of .5 ties only


def test_colour_jitter_changes_exposure_contrast_and_colourfulness_as_drawn():
    import cv2

    clip = np.random.default_rng(6).integers(0, 256, (2, 4, 8, 8, 3), dtype=np.uint8)
    assert np.array_equal(apply_colour_jitter(clip, ColourJitter()), clip)
    # Saturation 0 is OpenCV's grey picture (BT.601) in all three channels.
    grey = apply_colour_jitter(clip, ColourJitter(saturation=0.0))
    ref = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in clip.reshape(-1, 8, 8, 3)]).reshape(2, 4, 8, 8, 1)
    assert np.abs(grey.astype(int) - ref).max() <= 1
    assert np.abs(apply_colour_jitter(clip, ColourJitter(gain=0.5)) - clip / 2).max() <= 0.5
    bright = apply_colour_jitter(clip, ColourJitter(gain=1.5))
    assert bright.dtype == np.uint8 and bright.max() == 255 and np.array_equal(bright[clip < 170], np.rint(clip[clip < 170] * 1.5))
    flat = apply_colour_jitter(clip, ColourJitter(contrast=0.0, saturation=0.0))  # one grey: the clip's mean
    assert flat.max() - flat.min() <= 1 and abs(float(flat.mean()) - float(ref.mean())) <= 1
    lower = apply_colour_jitter(clip, ColourJitter(contrast=0.5))
    assert lower.std() < 0.6 * clip.std()
    rng = np.random.default_rng(7)
    assert sample_colour_jitter(rng, 0.0) == ColourJitter()
    drawn = [sample_colour_jitter(rng, 1.0) for _ in range(200)]
    assert all(0.5 <= j.gain <= 1.5 and 0.6 <= j.contrast <= 1.4 and 0.0 <= j.saturation <= 1.5 for j in drawn)
    assert len({j.gain for j in drawn}) == 200
    with pytest.raises(ValueError, match="p=2"):
        sample_colour_jitter(rng, 2)


def test_zoom_shrinks_the_picture_where_drawn_and_mirrors_it_around():
    import cv2

    clip = np.random.default_rng(8).integers(0, 256, (2, 3, 16, 16, 3), dtype=np.uint8)
    assert np.array_equal(apply_zoom(clip, Zoom()), clip)
    small = apply_zoom(clip, Zoom(scale=0.5, x=0.0, y=1.0))  # bottom left
    assert small.shape == clip.shape and small.dtype == np.uint8
    for f, out in zip(clip.reshape(-1, 16, 16, 3), small.reshape(-1, 16, 16, 3), strict=True):
        inner = cv2.resize(f, (8, 8), interpolation=cv2.INTER_AREA)
        assert np.array_equal(out[8:, :8], inner)
        assert np.array_equal(out[8:, 8], inner[:, 6]) and np.array_equal(out[7, :8], inner[1])  # mirrored, edge once
        assert np.array_equal(out[8:, 15], inner[:, 1])  # a room as wide as the picture: mirrored back again
    middle = apply_zoom(clip, Zoom(scale=0.75, x=0.5, y=0.5))
    assert np.array_equal(middle[1, 2, 2:14, 2:14], cv2.resize(clip[1, 2], (12, 12), interpolation=cv2.INTER_AREA))
    rng = np.random.default_rng(9)
    assert sample_zoom(rng, 0.0) == Zoom()
    drawn = [sample_zoom(rng, 1.0) for _ in range(200)]
    assert all(0.5 <= z.scale <= 1.0 and 0 <= z.x <= 1 and 0 <= z.y <= 1 for z in drawn)
    assert min(z.scale for z in drawn) < 0.55 and max(z.scale for z in drawn) > 0.95
    with pytest.raises(ValueError, match="p=-1"):
        sample_zoom(rng, -1)


def test_normalise_layout_and_values():
    clip = np.full((2, 4, 8, 8, 3), PAD_VALUE, np.uint8)
    clip[..., 0] = 255
    x = normalise(clip)
    assert x.shape == (2, 3, 4, 8, 8) and x.dtype == torch.float32
    assert torch.allclose(x[:, 0], torch.tensor((1 - 0.45) / 0.225), atol=1e-5)
    assert torch.allclose(x[:, 1], torch.tensor((PAD_VALUE / 255 - 0.45) / 0.225), atol=1e-5)


def test_degradation_blurs_adds_noise_and_round_trips_through_h264():
    import cv2

    from spasmscope.data.preprocess import Degradation, apply_degradation, sample_degradation

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:64, 0:64]
    frame = np.stack([(xx * 4) % 256, (yy * 4) % 256, ((xx + yy) * 2) % 256], axis=2).astype(np.uint8)
    clip = np.stack([np.roll(frame, k, axis=1) for k in range(16)])
    assert np.array_equal(apply_degradation(clip, Degradation()), clip)
    # The blur is OpenCV's Gaussian of that sigma, frame by frame; the noise has the standard deviation drawn.
    blurred = apply_degradation(clip, Degradation(blur=1.0))
    assert np.array_equal(blurred, np.stack([np.clip(np.rint(cv2.GaussianBlur(f.astype(np.float32), (0, 0), 1.0)), 0, 255).astype(np.uint8) for f in clip]))
    flat = np.full((16, 64, 64, 3), 128, np.uint8)
    noisy = apply_degradation(flat, Degradation(noise=6.0, seed=1)).astype(float)
    assert noisy.std() == pytest.approx(6.0, rel=0.05) and np.array_equal(noisy, apply_degradation(flat, Degradation(noise=6.0, seed=1)))

    def psnr(a: np.ndarray, b: np.ndarray) -> float:
        return float(10 * np.log10(255**2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))

    from skimage import data

    photo = cv2.resize(data.astronaut(), (96, 96))  # a photograph panning by a pixel a frame
    moving = np.stack([photo[k : k + 64, k : k + 64] for k in range(16)])
    light, heavy = apply_degradation(moving, Degradation(crf=18)), apply_degradation(moving, Degradation(crf=40))
    assert light.shape == heavy.shape == moving.shape and light.dtype == np.uint8
    assert psnr(light, moving) > 28 and psnr(heavy, moving) < psnr(light, moving) - 5  # a heavier upload loses more
    drawn = [sample_degradation(rng, 0.5) for _ in range(200)]
    assert 60 < sum(d != Degradation() for d in drawn) < 140 and all(18 <= d.crf <= 40 for d in drawn if d.crf)


def test_texture_is_one_random_convolution_in_every_frame_keeping_the_clips_colours_and_its_movement():
    from scipy import ndimage
    from skimage import data

    from spasmscope.data.preprocess import Texture, apply_texture, sample_texture, texture_kernel

    photo = data.astronaut()[100:196, 150:246]
    clip = np.stack([photo[k : k + 64, k : k + 64] for k in range(8)])  # a photograph panning by a pixel a frame
    assert np.array_equal(apply_texture(clip, Texture()), clip)
    t = Texture(size=5, mix=1.0, seed=4)
    out = apply_texture(clip, t)
    assert np.array_equal(out, apply_texture(clip, t)) and out.dtype == np.uint8 and out.shape == clip.shape
    # The filter is SciPy's correlation with the kernel, channels summed (mirrored edges), before the rescaling.
    kernel, x = texture_kernel(t), clip.astype(np.float32)
    ref = np.stack([sum(ndimage.correlate(x[..., i], kernel[o, i][None], mode="mirror") for i in range(3)) for o in range(3)], axis=-1)
    ref = (ref - ref.mean(axis=(0, 1, 2))) / ref.std(axis=(0, 1, 2)) * x.std(axis=(0, 1, 2)) + x.mean(axis=(0, 1, 2))
    assert np.abs(out.astype(float) - np.clip(np.rint(ref), 0, 255)).max() <= 1
    # Each channel keeps about the clip's mean (exactly before bright values clip at 255); the surfaces change; the
    # same kernel in every frame keeps the panning.
    assert np.allclose(out.reshape(-1, 3).mean(0), clip.reshape(-1, 3).mean(0), atol=10)
    assert np.abs(out.astype(float) - clip).mean() > 20
    assert np.abs(out[1:, :-1, :-1].astype(float) - out[:-1, 1:, 1:]).mean() < 3  # frame k+1 is frame k moved by a pixel
    half = apply_texture(clip, Texture(size=5, mix=0.5, seed=4)).astype(float)
    unclipped = (out > 0) & (out < 255)
    assert unclipped.mean() > 0.8 and np.abs(half - (out.astype(float) + clip) / 2)[unclipped].max() <= 1
    drawn = [sample_texture(np.random.default_rng(i), 0.4) for i in range(200)]
    assert 50 < sum(d != Texture() for d in drawn) < 110 and {d.size for d in drawn if d.size} == {1, 3, 5, 7}
