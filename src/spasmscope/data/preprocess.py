"""Segment preprocessing (METHOD §3): spatial mode, trilinear resize, augmentation, normalisation.

Pipeline for one 5-s segment decoded at 30 fps (150 frames):

1. spatial mode: ``squash`` (the paper: the frame is squashed to a square), ``pad`` (letterbox to a
   square with the Kinetics mean grey, keeping the aspect ratio) or ``crop`` (centre square);
2. resize by trilinear interpolation of the whole clip: ``temporal="resize"`` makes 150 frames into
   ``frames`` (paper: 16 x 224 x 224); ``temporal="clips"`` takes ``clips`` clips of 16 frames at
   stride 4 (Hiera's pretraining sampling) and resizes only in space;
3. (training only) augmentation: sample parameters, record them, apply them;
4. normalisation with the Kinetics statistics: ``(x / 255 - 0.45) / 0.225`` per channel.

Steps 1-2 give a ``uint8`` array ``[K, T, S, S, 3]`` (K = ``phases``, 1 by default, for ``resize``): that is what the segment
cache stores. The augmentations (flips, quarter turns, inversion) commute with the square resize,
so applying them to cached clips equals applying them to the raw frames (a test checks this).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from spasmscope.errors import SettingError

KINETICS_MEAN = (0.45, 0.45, 0.45)  # per RGB channel, on a 0-1 scale: what Hiera's K400 weights expect
KINETICS_STD = (0.225, 0.225, 0.225)
TEMPORAL_MODES = ("resize", "clips")
SPATIAL_MODES = ("squash", "pad", "crop")
PAD_VALUE = round(KINETICS_MEAN[0] * 255)  # padding normalises to ~0, so it carries no signal


@dataclass(frozen=True)
class ClipConfig:
    """How a segment becomes model input; part of the segment cache key."""

    frames: int = 16  # T: frames per clip (paper: 16)
    size: int = 224  # S: square side in pixels (paper: 224)
    temporal: str = "resize"  # "resize": whole segment -> T frames; "clips": K clips of 16 at stride 4
    clips: int = 3  # K, for temporal="clips"
    clip_stride: int = 4  # source frames between clip frames, for temporal="clips"
    spatial: str = "squash"  # "squash" (paper), "pad" or "crop"
    crop_infant: bool = False  # cut each segment around the infant first (built-in motion localiser, METHOD §8)
    # A moving camera's frames are first held onto the segment's middle frame (localise.steady_taps), so a hand's
    # shake, roll and re-grips leave the clip and the infant's own movement stays.
    steady: bool = False
    # ``resize`` only: the segment is read this many times, each a 1/phases of an output frame's interval later
    # (a 5-s segment's 16 frames are 9.4 source frames apart; a second phase starts 5 frames later). Training
    # draws one phase per epoch and scoring averages them, as ``clips`` mode does with its clips.
    phases: int = 1

    def __post_init__(self) -> None:
        if self.temporal not in TEMPORAL_MODES:
            raise SettingError(f"temporal={self.temporal!r}", f"use one of {', '.join(TEMPORAL_MODES)}")
        if self.spatial not in SPATIAL_MODES:
            raise SettingError(f"spatial={self.spatial!r}", f"use one of {', '.join(SPATIAL_MODES)}")
        if self.frames < 1 or self.size < 8:
            raise SettingError(f"frames={self.frames}, size={self.size}", "need frames >= 1 and size >= 8")
        if self.clips < 1 or self.clip_stride < 1:
            raise SettingError(f"clips={self.clips}, clip_stride={self.clip_stride}", "both must be >= 1")
        if self.phases < 1 or (self.phases > 1 and self.temporal != "resize"):
            raise SettingError(f"phases={self.phases} with temporal={self.temporal!r}", "phases must be >= 1, and above 1 only with temporal = \"resize\"")

    def as_dict(self) -> dict:
        return asdict(self)


def decode_size(width: int, height: int, cfg: ClipConfig) -> tuple[int, int]:
    """Upright ``(width, height)`` to decode a ``width x height`` video at before the trilinear resize.

    FFmpeg's area filter first brings frames to at most twice the target, which bounds memory for
    1080p input; from 2S to S, trilinear interpolation (align_corners=False) averages 2 x 2 pixels.
    """
    limit = 2 * cfg.size
    if cfg.spatial == "squash":
        w, h = min(width, limit), min(height, limit)
    else:
        # pad keeps the whole frame (scale the long side), crop keeps the centre (scale the short side).
        side = max(width, height) if cfg.spatial == "pad" else min(width, height)
        scale = min(1.0, limit / side)
        w, h = width * scale, height * scale
    return max(2, int(round(w / 2)) * 2), max(2, int(round(h / 2)) * 2)


def working_size(width: int, height: int, cfg: ClipConfig) -> tuple[int, int]:
    """Upright ``(width, height)`` to decode at when a crop is cut from the frame: short side at most four times
    the clip (at least 256), so an infant a quarter of the frame high still fills a clip at full detail."""
    scale = min(1.0, max(256, 4 * cfg.size) / min(width, height))
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def crop_clip(frames: np.ndarray, crop: tuple[int, int, int, int], cfg: ClipConfig) -> np.ndarray:
    """Frames ``[N, H, W, 3] uint8`` (30 fps) -> model clips ``[K, T, S, S, 3]`` of the box ``crop`` (x, y, w, h):
    steadied (``cfg.steady``), cut, brought to ``decode_size`` with an area filter (what FFmpeg does for uncropped
    segments), then ``make_clips``."""
    import cv2

    if cfg.steady:
        from spasmscope.data.localise import steady_taps

        frames = steady_taps(frames, clip_taps(len(frames), cfg))
    x, y, w, h = crop
    part = frames[:, y : y + h, x : x + w]
    dw, dh = decode_size(part.shape[2], part.shape[1], cfg)
    if (dw, dh) != (part.shape[2], part.shape[1]):
        # Only the frames make_clips reads are resized; the others weigh nothing and stay black.
        small = np.zeros((len(part), dh, dw, part.shape[3]), dtype=part.dtype)
        for i in clip_taps(len(part), cfg):
            small[i] = cv2.resize(part[i], (dw, dh), interpolation=cv2.INTER_AREA)
        part = small
    return make_clips(part, cfg)


def to_square(frames: np.ndarray, spatial: str) -> np.ndarray:
    """``[N, H, W, 3]`` -> ``[N, L, L, 3]`` for ``pad`` (L = max side) or ``crop`` (L = min side);
    ``squash`` returns the frames unchanged (the resize squashes them)."""
    n, h, w, c = frames.shape
    if spatial == "squash" or h == w:
        return frames
    if spatial == "crop":
        side = min(h, w)
        y, x = (h - side) // 2, (w - side) // 2
        return frames[:, y : y + side, x : x + side]
    side = max(h, w)
    out = np.full((n, side, side, c), PAD_VALUE, dtype=frames.dtype)
    y, x = (side - h) // 2, (side - w) // 2
    out[:, y : y + h, x : x + w] = frames
    return out


def resize_clip(frames: np.ndarray, frames_out: int, size: int) -> np.ndarray:
    """Trilinear resize of a whole clip: ``[N, H, W, 3] uint8`` -> ``[frames_out, size, size, 3] uint8``.

    PyTorch ``interpolate(mode="trilinear", align_corners=False)`` over (time, height, width), then
    rounded to the nearest grey level.
    """
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)[None].float()  # [1, 3, N, H, W]
    y = F.interpolate(x, size=(frames_out, size, size), mode="trilinear", align_corners=False)
    return y[0].permute(1, 2, 3, 0).round_().clamp_(0, 255).to(torch.uint8).numpy()


def clip_indices(n_frames: int, clips: int, length: int = 16, stride: int = 4) -> np.ndarray:
    """``[clips, length]`` source frame indices: clips of ``length`` frames ``stride`` apart, spread
    evenly over ``n_frames`` (a clip that does not fit repeats the last frame)."""
    span = (length - 1) * stride
    starts = np.linspace(0, max(n_frames - 1 - span, 0), clips).round().astype(int)
    idx = starts[:, None] + stride * np.arange(length)[None, :]
    return np.minimum(idx, n_frames - 1)


def clip_taps(n_frames: int, cfg: ClipConfig) -> np.ndarray:
    """The indices of the ``n_frames`` (30 fps) frames of a segment that ``make_clips`` reads: the two neighbours
    of every output frame's position under linear interpolation in time (``align_corners=False``). The other
    frames get weight 0, so a caller may decode only these and fill the rest with any of them."""

    def taps(n: int, out: int) -> np.ndarray:
        src = np.maximum((np.arange(out) + 0.5) * n / out - 0.5, 0.0)
        lo = np.floor(src).astype(int)
        return np.concatenate([lo, np.minimum(lo + 1, n - 1)])

    if cfg.temporal == "resize":
        first = taps(n_frames, cfg.frames)
        return np.unique(np.concatenate([np.minimum(first + phase_shift(n_frames, cfg, k), n_frames - 1) for k in range(cfg.phases)]))
    idx = clip_indices(n_frames, cfg.clips, cfg.frames, cfg.clip_stride)
    return np.unique(np.concatenate([i[taps(len(i), cfg.frames)] for i in idx]))


def phase_shift(n_frames: int, cfg: ClipConfig, k: int) -> int:
    """Source frames by which phase ``k`` of ``cfg.phases`` is read later than phase 0: ``k / phases`` of the
    interval between output frames (``n_frames / cfg.frames``), to the nearest frame."""
    return int(round(k * n_frames / (cfg.frames * cfg.phases)))


def make_clips(frames: np.ndarray, cfg: ClipConfig) -> np.ndarray:
    """Decoded segment ``[N, H, W, 3] uint8`` (30 fps) -> model clips ``[K, T, S, S, 3] uint8`` (``resize``: K =
    ``cfg.phases``, phase k read ``phase_shift`` frames later, the last frame held past the end)."""
    square = to_square(frames, cfg.spatial)
    if cfg.temporal == "resize":
        clips = []
        for k in range(cfg.phases):
            # Phase k starts ``shift`` frames later; the last frame is held for the frames past the segment's end.
            shift = phase_shift(len(square), cfg, k)
            later = np.concatenate([square[shift:], np.repeat(square[-1:], shift, axis=0)])
            clips.append(resize_clip(later, cfg.frames, cfg.size))
        return np.stack(clips)
    idx = clip_indices(len(square), cfg.clips, cfg.frames, cfg.clip_stride)
    return np.stack([resize_clip(square[i], cfg.frames, cfg.size) for i in idx])


# --- augmentation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Augmentation:
    """Sampled parameters of the paper's five augmentations, recorded so a clip can be replayed."""

    vflip: bool = False
    hflip: bool = False
    rotate: int = 0  # quarter turns: 0 none, -1 = 90 degrees clockwise, 1 = 90 degrees counter-clockwise
    invert: bool = False  # colour inversion: 255 - x

    def as_dict(self) -> dict:
        return asdict(self)


def _check_probability(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise SettingError(f"p={p}", "an augmentation probability must be in [0, 1]")


def sample_augmentation(rng: np.random.Generator, p: float = 0.5) -> Augmentation:
    """Draw each augmentation with probability ``p`` (a rotation is clockwise or counter-clockwise)."""
    _check_probability(p)
    rotate = 0
    if rng.uniform() < p:
        rotate = -1 if rng.uniform() < 0.5 else 1
    return Augmentation(vflip=bool(rng.uniform() < p), hflip=bool(rng.uniform() < p), rotate=rotate, invert=bool(rng.uniform() < p))


def apply_augmentation(clip: np.ndarray, aug: Augmentation) -> np.ndarray:
    """Apply ``aug`` to ``[..., T, H, W, 3] uint8`` (H = W for quarter turns); returns a new array."""
    out = clip
    if aug.vflip:
        out = out[..., ::-1, :, :]
    if aug.hflip:
        out = out[..., :, ::-1, :]
    if aug.rotate:
        # np.rot90 turns counter-clockwise for k > 0 in the (row, column) plane as an image is shown.
        out = np.rot90(out, k=aug.rotate, axes=(-3, -2))
    out = np.ascontiguousarray(out)
    if aug.invert:
        out = 255 - out
    return out


@dataclass(frozen=True)
class ColourJitter:
    """A photometric change of a whole clip, for pretraining only (the paper's augmentations above are
    geometric and inversion): other exposures, contrasts and colourfulness than the generator draws."""

    gain: float = 1.0  # brightness: every value is multiplied by it
    contrast: float = 1.0  # scales each value's distance from the clip's mean grey
    saturation: float = 1.0  # scales each pixel's distance from its own grey (0: a grey picture)


def sample_colour_jitter(rng: np.random.Generator, p: float) -> ColourJitter:
    """With probability ``p``, a jitter with gain 0.5-1.5, contrast 0.6-1.4 and saturation 0-1.5 (uniform);
    otherwise none."""
    _check_probability(p)
    if rng.uniform() >= p:
        return ColourJitter()
    return ColourJitter(gain=float(rng.uniform(0.5, 1.5)), contrast=float(rng.uniform(0.6, 1.4)), saturation=float(rng.uniform(0.0, 1.5)))


def apply_colour_jitter(clip: np.ndarray, jitter: ColourJitter) -> np.ndarray:
    """Apply ``jitter`` to ``[..., T, H, W, 3] uint8`` (RGB): saturation, then contrast, then gain, rounded
    and clipped to 0-255; returns a new array."""
    if jitter == ColourJitter():
        return clip.copy()
    x = clip.astype(np.float32)
    grey = x @ np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601 luma
    x = grey[..., None] + jitter.saturation * (x - grey[..., None])
    x = grey.mean() + jitter.contrast * (x - grey.mean())
    return np.clip(np.rint(x * jitter.gain), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Zoom:
    """A farther camera, for pretraining only: the clip shrunk to ``scale`` of its side and placed ``x``, ``y``
    (shares of the room left, 0 = left or top) in a frame filled out by mirroring the picture at its edges. The
    generator's infants fill 55-85% of a close view; a phone held farther away shows them smaller."""

    scale: float = 1.0
    x: float = 0.5
    y: float = 0.5


def sample_zoom(rng: np.random.Generator, p: float) -> Zoom:
    """With probability ``p``, a zoom to 0.5-1 of the side (uniform) at a uniform place; otherwise none."""
    _check_probability(p)
    if rng.uniform() >= p:
        return Zoom()
    return Zoom(scale=float(rng.uniform(0.5, 1.0)), x=float(rng.uniform()), y=float(rng.uniform()))


def apply_zoom(clip: np.ndarray, zoom: Zoom) -> np.ndarray:
    """Apply ``zoom`` to ``[..., T, S, S, 3] uint8``: each frame shrunk with an area filter to ``round(scale *
    S)`` pixels, then bordered by reflection (OpenCV's BORDER_REFLECT_101) back to S x S; returns a new array."""
    import cv2

    size = clip.shape[-2]
    inner = int(round(zoom.scale * size))
    if inner >= size:
        return clip.copy()
    left, top = int(round(zoom.x * (size - inner))), int(round(zoom.y * (size - inner)))
    right, bottom = size - inner - left, size - inner - top
    frames = clip.reshape(-1, *clip.shape[-3:])
    out = np.stack([cv2.copyMakeBorder(cv2.resize(f, (inner, inner), interpolation=cv2.INTER_AREA), top, bottom, left, right, cv2.BORDER_REFLECT_101) for f in frames])
    return out.reshape(clip.shape)


@dataclass(frozen=True)
class Texture:
    """Other surfaces than the generator draws, for pretraining only: every frame filtered by one random ``size``
    x ``size`` convolution that mixes the colour channels (random convolutions, Xu et al., ICLR 2021), rescaled to
    the clip's own mean and spread per channel and blended in at ``mix``. It changes textures and colours and keeps
    outlines and movement, so a backbone cannot lean on one renderer's fabrics and photographs."""

    size: int = 0  # kernel side in pixels, odd; 0: none
    mix: float = 0.0  # share of the filtered picture in the result
    seed: int = 0  # of the kernel


def sample_texture(rng: np.random.Generator, p: float) -> Texture:
    """With probability ``p``, a kernel of 1, 3, 5 or 7 pixels (each as likely) blended in at 0.3-1 (uniform);
    otherwise none."""
    _check_probability(p)
    if rng.uniform() >= p:
        return Texture()
    return Texture(size=int(rng.choice([1, 3, 5, 7])), mix=float(rng.uniform(0.3, 1.0)), seed=int(rng.integers(2**31)))


def texture_kernel(t: Texture) -> np.ndarray:
    """``float32 [3, 3, size, size]`` (output channel, input channel, row, column): Gaussian weights of variance
    1 / (3 size^2), so the filtered picture keeps about the original's spread (He initialisation)."""
    rng = np.random.default_rng(t.seed)
    return rng.normal(0.0, 1.0 / np.sqrt(3 * t.size * t.size), (3, 3, t.size, t.size)).astype(np.float32)


def apply_texture(clip: np.ndarray, t: Texture) -> np.ndarray:
    """Apply ``t`` to ``[..., T, H, W, 3] uint8`` (RGB): the same correlation with ``texture_kernel`` in every
    frame (edges mirrored), each output channel rescaled to the clip's mean and standard deviation of that channel,
    then ``mix * filtered + (1 - mix) * clip``, rounded and clipped; returns a new array."""
    import cv2

    if t == Texture():
        return clip.copy()
    kernel = texture_kernel(t)
    frames = clip.reshape(-1, *clip.shape[-3:]).astype(np.float32)
    out = np.zeros_like(frames)
    for f, frame in enumerate(frames):
        for o in range(3):
            out[f, ..., o] = sum(cv2.filter2D(frame[..., i], -1, kernel[o, i], borderType=cv2.BORDER_REFLECT_101) for i in range(3))
    mean, spread = frames.mean(axis=(0, 1, 2)), frames.std(axis=(0, 1, 2))
    out = (out - out.mean(axis=(0, 1, 2))) / np.maximum(out.std(axis=(0, 1, 2)), 1e-6) * spread + mean
    mixed = t.mix * out + (1 - t.mix) * frames
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8).reshape(clip.shape)


@dataclass(frozen=True)
class Degradation:
    """A cheaper camera and a lossy upload, for pretraining only: sensor noise of ``noise`` grey levels (standard
    deviation, fresh in every frame), a soft lens (Gaussian blur of ``blur`` pixels), then H.264 at ``crf`` (0: not
    encoded). Phone clips of real infants carry all three; clips drawn for pretraining carry none."""

    noise: float = 0.0
    blur: float = 0.0
    crf: int = 0
    seed: int = 0  # of the noise


def sample_degradation(rng: np.random.Generator, p: float) -> Degradation:
    """With probability ``p``, noise of 0-8 grey levels, blur of 0-1.2 pixels and H.264 at CRF 18-40 (uniform);
    otherwise none."""
    _check_probability(p)
    if rng.uniform() >= p:
        return Degradation()
    return Degradation(noise=float(rng.uniform(0, 8)), blur=float(rng.uniform(0, 1.2)), crf=int(rng.integers(18, 41)), seed=int(rng.integers(2**31)))


def apply_degradation(clip: np.ndarray, d: Degradation) -> np.ndarray:
    """Apply ``d`` to ``[T, H, W, 3] uint8`` (RGB; even H and W for the codec): blur, noise, then the codec's
    round trip (``writer.h264_round_trip``); returns a new array."""
    import cv2

    if d == Degradation():
        return clip.copy()
    x = clip.astype(np.float32)
    if d.blur > 0:
        x = np.stack([cv2.GaussianBlur(f, (0, 0), d.blur) for f in x])
    if d.noise > 0:
        x += np.random.default_rng(d.seed).normal(0, d.noise, x.shape).astype(np.float32)
    out = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    if d.crf > 0:
        from spasmscope.data.writer import h264_round_trip

        out = h264_round_trip(out, d.crf)
    return out


def normalise(clip: np.ndarray):
    """``[..., T, S, S, 3] uint8`` -> ``torch.float32 [..., 3, T, S, S]`` with the Kinetics statistics."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(clip)).float().div_(255.0)
    mean = torch.tensor(KINETICS_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(KINETICS_STD).view(3, 1, 1, 1)
    x = x.movedim(-1, -4)  # channels before time
    return (x - mean) / std
