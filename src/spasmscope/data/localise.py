"""Where the infant is in a recording, window by window (METHOD §8), and how sure we are.

Wide-view video-EEG shows the infant small, in a cot, among a still room; the model needs a crop around
the infant. Two detectors, one interface (``update(frames) -> Localisation``):

- ``MotionLocaliser`` (default, no weights to download): an infant moves, a room does not. Frame
  differences 0.2 s apart, blurred and with the sensor-noise floor removed, are accumulated over windows
  with a decay (a still moment keeps the last place); the infant is the box that holds nearly all of the
  accumulated map's mass. Visibility is how much movement above the noise the map holds, times the share of
  it inside the box: noise alone (empty cot, infrared grain) is scattered and weak, so it scores low. A
  hand-held camera moves the whole scene (its median frame-to-frame shift, by phase correlation, is above
  ``camera_motion``): its frames are first steadied onto the window's middle frame (``steady_paths``: corners
  tracked by optical flow, a rotation-scale-shift fitted with RANSAC; ``refine`` adds an affine map fitted on every
  still pixel), so a shaking patterned blanket stands still and only the infant moves; the crop, of the frame's own
  shape (``zoom_around``), then holds the box all along the camera's path. A box too small to be a whole infant
  leaves the view whole.
- ``detector.OnnxDetector``: a YOLO-style person detector from a local ``.onnx`` file, run by onnxruntime on
  the window's middle frame; its confidence is the visibility.

Boxes are ``(x, y, w, h)`` in pixels of the frames given (upright). A still camera's crop is a square around the
box with a margin; when it would cover most of the frame the whole frame is used, as training segments were.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from spasmscope.errors import SettingError

Box = tuple[int, int, int, int]  # x, y, w, h: pixels of the upright frame
# Bumped whenever the motion localiser would crop the same frames differently, so cached crops and finished
# screening windows made by an older version are made again. 2: a moving camera gets the whole frame.
# 3: a moving camera's frames are steadied, and it gets a crop of the frame's shape around the infant.
CROP_VERSION = 3


@dataclass(frozen=True)
class LocaliseConfig:
    """Settings of the built-in motion localiser and of the crop around a found infant."""

    analysis_width: int = 320  # pixels: frames are analysed in grey at this width (a wide view's limbs stay ~2 px)
    step_s: float = 0.2  # seconds between the frames compared for motion
    decay: float = 0.9  # share of the accumulated motion map kept from one window to the next (hop 2.5 s: ~25 s)
    level: float = 0.2  # map values below this share of its peak are ignored when placing the box
    tail: float = 0.03  # the box leaves out this share of the movement on each side (stray hands, noise)
    noise_margin: float = 0.5  # grey levels above the noise floor that count as movement
    saturation: float = 1.0  # movement above the noise (grey levels, blurred) at which "moving" is 63% sure
    margin: float = 0.5  # the crop extends the box by this share of its longer side on every side
    min_side: float = 0.25  # the crop's side is at least this share of the frame's short side
    full_frame: float = 0.55  # a crop covering more than this share of the frame becomes the whole frame
    camera_motion: float = 0.005  # median frame-to-frame shift, share of the short side, above which the camera moves
    # A moving camera's window stands alone (no map built over earlier windows), so its movement box may be one
    # limb of a quiet infant; a box shorter than this share of the frame's short side is not cropped around, as
    # a crop would cut the rest of the body (square crops cut the infant in 15 of the demo cohorts' 194 moving
    # views without this rule, in 1 with it).
    steady_min_box: float = 0.3
    # Refine a moving camera's steadying on every still pixel (``steady_paths``). Off: it centres a re-filmed wide
    # view's movement on the infant, but cross-validation on that cohort gained nothing, so it is not worth its time
    # (BENCHMARKS, 2026-12-05, refined steadying). Nothing but the benchmarks turns it on, so no cache key holds it.
    refine: bool = False

    def __post_init__(self) -> None:
        if not self.camera_motion > 0:
            raise SettingError(f"camera_motion={self.camera_motion}", "the shift above which the camera moves must be positive")
        if not 0 <= self.steady_min_box <= 1:
            raise SettingError(f"steady_min_box={self.steady_min_box}", "a share of the frame's short side, in [0, 1]")
        if not 0 <= self.decay < 1 or not 0 < self.level < 1:
            raise SettingError(f"decay={self.decay}, level={self.level}", "both must be in [0, 1)")
        if self.analysis_width < 16 or self.step_s <= 0:
            raise SettingError(f"analysis_width={self.analysis_width}, step_s={self.step_s}", "need >= 16 pixels and > 0 s")


@dataclass(frozen=True)
class Localisation:
    """The infant in one window: crop box (whole frame when not cropped) and a visibility confidence 0-1."""

    crop: Box
    visibility: float
    box: Box | None = None  # the detected infant before the margin (None: nothing found)
    # A moving camera's window: the longer side of its steadied movement's box in the middle frame, as a share of
    # the frame's short side (what ``steady_min_box`` is compared with); None for a still camera or no movement.
    steadied_extent: float | None = None


class Localiser(Protocol):
    def update(self, frames: np.ndarray, fps: float) -> Localisation:
        """Frames of the next window, ``[N, H, W, 3] uint8`` at ``fps``, in order; returns where the infant is."""
        ...

    def frames_read(self, n_frames: int, fps: float) -> np.ndarray:
        """The indices of a window's frames that ``update`` looks at (the others need not be decoded)."""
        ...

    def memory(self) -> int:
        """How many windows back ``update`` still remembers (``remembered``): a chunk of a recording is localised
        after watching that many windows before it."""
        ...


FORGOTTEN = 1e-6  # a past window whose weight in a localiser's state has fallen below this is forgotten


def remembered(keep: float) -> int:
    """Windows until a state that keeps ``keep`` of itself per window holds less than ``FORGOTTEN`` of a window."""
    return 0 if keep <= 0 else math.ceil(math.log(FORGOTTEN) / math.log(keep))


def crop_around(box: Box | None, width: int, height: int, cfg: LocaliseConfig) -> Box:
    """A square crop around ``box`` with the margin, inside the frame; the whole frame for ``None`` or when the
    square would cover more than ``cfg.full_frame`` of it."""
    if box is None:
        return 0, 0, width, height
    x, y, w, h = box
    short = min(width, height)
    side = max(w, h) * (1 + 2 * cfg.margin)
    side = int(round(min(max(side, cfg.min_side * short), short)))
    if side * side > cfg.full_frame * width * height:
        return 0, 0, width, height
    return _placed(x + w / 2, y + h / 2, side, side, width, height)


def zoom_around(box: Box, width: int, height: int, margin: float) -> Box:
    """A crop of the frame's own shape around ``box`` with the margin (a share of the box's side on every side,
    in the frame's proportions), inside the frame; the whole frame when the box with its margin spans it.

    Used for phone views: pretraining showed them whole, squashed to a square, so a crop of the same shape is
    a zoom that keeps the infant's proportions as the backbone knows them; a square crop of a 16:9 view would
    unsquash it (demo cohort, cross-validated AUC: 0.944 with square crops of moving views, 0.949 with these,
    0.950 whole)."""
    x, y, w, h = box
    share = min(1.0, max(w / width, h / height) * (1 + 2 * margin))
    if share >= 1.0:
        return 0, 0, width, height
    return _placed(x + w / 2, y + h / 2, int(round(share * width)), int(round(share * height)), width, height)


def _placed(cx: float, cy: float, cw: int, ch: int, width: int, height: int) -> Box:
    """A ``cw`` x ``ch`` crop centred on ``(cx, cy)``, pushed inside a ``width`` x ``height`` frame."""
    x0 = int(round(min(max(cx - cw / 2, 0), width - cw)))
    y0 = int(round(min(max(cy - ch / 2, 0), height - ch)))
    return x0, y0, cw, ch


class MotionLocaliser:
    """Accumulated movement (see the module docstring). One instance per recording: it keeps state."""

    def __init__(self, cfg: LocaliseConfig = LocaliseConfig()):
        self.cfg = cfg
        self.map: np.ndarray | None = None  # accumulated movement, grey levels, at the analysis size
        self.template: np.ndarray | None = None  # the infant's region when it last moved clearly, 24 x 24 grey
        self._scratch: dict[str, np.ndarray] = {}  # per-window working arrays, kept from one window to the next

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        # A window's working arrays are tens of MB; allocating them anew each window cost as much time in page
        # faults as the arithmetic (screening has glibc map large blocks fresh, see recording.map_frame_buffers).
        a = self._scratch.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = self._scratch[name] = np.empty(shape, dtype)
        return a

    def frames_read(self, n_frames: int, fps: float) -> np.ndarray:
        return np.arange(0, n_frames, self._stride(fps))

    def memory(self) -> int:
        return remembered(self.cfg.decay)

    def _stride(self, fps: float) -> int:
        return max(1, int(round(fps * self.cfg.step_s / 2)))

    def update(self, frames: np.ndarray, fps: float) -> Localisation:
        cfg = self.cfg
        n, h, w, _ = frames.shape
        aw, ah = analysis_size(w, h, cfg)
        # Frames every half step, each compared with the one a whole step later.
        stride, lag = self._stride(fps), 2
        picked = frames[::stride]
        grey = self._buffer("grey", (len(picked), ah, aw), np.uint8)
        for i, f in enumerate(picked):
            grey[i] = analysis_grey(f, (aw, ah))
        small = self._buffer("small", grey.shape, np.float32)
        np.copyto(small, grey)
        paths = steady_paths(grey, cfg.refine) if camera_moves(small, lag, cfg) else None
        trusted = None
        if paths is not None:
            # Differences of steadied frames; the strip the camera's path carried out of view in some frame is
            # not trusted (its border copies would move).
            for i, m in enumerate(paths):
                small[i] = cv2.warpAffine(grey[i], m, (aw, ah), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            trusted = np.ones((ah, aw), np.float32)
            for m in paths:
                cv2.min(trusted, cv2.warpAffine(np.ones((ah, aw), np.float32), m, (aw, ah), flags=cv2.INTER_NEAREST, borderValue=0), dst=trusted)
            trusted = cv2.erode(trusted, np.ones((5, 5), np.uint8))
        if len(small) > lag:
            diffs = self._buffer("diffs", (len(small) - lag, ah, aw), np.float32)
            np.abs(np.subtract(small[lag:], small[:-lag], out=diffs), out=diffs)
        else:
            diffs = np.zeros((1, ah, aw), np.float32)
        # Change that lasts: the upper quartile over time keeps a limb moving for a second or more of the five,
        # and drops the one-step flicker of a keyframe or a noise burst.
        moved = upper_quartile(diffs, scratch=self._buffer("ordered", diffs.shape, diffs.dtype))
        if trusted is not None:
            moved *= trusted
        # The noise floor: most of a wide view does not move, so the median difference and its spread (MAD) are
        # those of sensor and codec noise; clean video has neither, and only the margin remains.
        floor = noise_floor(moved) + cfg.noise_margin
        movement = np.maximum(moved - floor, 0.0)
        movement = cv2.GaussianBlur(movement, (0, 0), max(1.0, aw / 160))
        if paths is not None:
            # A moving camera's window stands alone: what it moved is kept out of the map a still camera builds.
            return self._steadied(movement, paths, w, h)
        self.map = movement if self.map is None or self.map.shape != movement.shape else cfg.decay * self.map + movement
        found = _region(self.map, cfg.level, cfg.tail)
        if found is None:
            return Localisation(crop=(0, 0, w, h), visibility=0.0)
        bx, by, bw, bh = found
        scale = w / aw
        box = (int(bx * scale), int(by * scale), int(math.ceil(bw * scale)), int(math.ceil(bh * scale)))
        crop = crop_around(box, w, h, cfg)
        cx, cy, cw, ch = (int(v / scale) for v in crop)
        inside = (slice(cy, cy + max(1, ch)), slice(cx, cx + max(1, cw)))
        total = float(self.map.sum())
        share = float(self.map[inside].sum()) / total if total > 0 else 0.0
        # Is the infant there now? It moves now, or the place looks as it did when it last moved (asleep).
        moving = 1.0 - math.exp(-float(movement[inside].max()) / cfg.saturation)
        patch = cv2.resize(small[len(small) // 2][by : by + bh, bx : bx + bw], (24, 24), interpolation=cv2.INTER_AREA)
        # Remember the infant's look only while it keeps moving through the window: the one sudden change of
        # an infant lifted out of the cot must not become the template of an empty mattress.
        steady = float((diffs[:, by : by + bh, bx : bx + bw].reshape(len(diffs), -1).max(axis=1) > floor + cfg.noise_margin).mean())
        if moving > 0.5 and steady >= 0.5:
            self.template = patch
        alike = _similarity(patch, self.template) if self.template is not None else 0.0
        return Localisation(crop=crop, visibility=round(max(moving, alike) * share, 4), box=box)

    def _steadied(self, movement: np.ndarray, paths: np.ndarray, width: int, height: int) -> Localisation:
        """The infant in a steadied window: the box around the movement, in the middle frame's analysis pixels,
        followed along the camera's path (``paths`` ``[N, 2, 3]``, frame -> middle frame) and united, so the
        one crop of the window holds the infant in every frame."""
        cfg = self.cfg
        ah, aw = movement.shape
        moving = 1.0 - math.exp(-float(movement.max()) / cfg.saturation)
        found = _region(movement, cfg.level, cfg.tail)
        extent = None if found is None else max(found[2:]) / min(aw, ah)
        # The rule compares pixels, as it always has, not ``extent``: a quotient rounds differently at the floor, and
        # every cached crop was made by this comparison.
        if found is None or max(found[2:]) < cfg.steady_min_box * min(aw, ah):
            return Localisation(crop=(0, 0, width, height), visibility=round(moving, 4), steadied_extent=extent)
        bx, by, bw, bh = found
        corners = np.array([[bx, by], [bx + bw, by], [bx, by + bh], [bx + bw, by + bh]], np.float64)
        seen = np.concatenate([corners @ inv[:, :2].T + inv[:, 2] for inv in (cv2.invertAffineTransform(m) for m in paths)])
        (x0, y0), (x1, y1) = np.maximum(seen.min(axis=0), 0), np.minimum(seen.max(axis=0), (aw, ah))
        scale = width / aw
        box = (int(x0 * scale), int(y0 * scale), int(math.ceil((x1 - x0) * scale)), int(math.ceil((y1 - y0) * scale)))
        crop = zoom_around(box, width, height, cfg.margin)
        cx, cy, cw, ch = zoom_around(found, aw, ah, cfg.margin)  # the crop as seen in the middle frame
        total = float(movement.sum())
        share = float(movement[cy : cy + ch, cx : cx + cw].sum()) / total if total > 0 else 0.0
        return Localisation(crop=crop, visibility=round(moving * share, 4), box=box, steadied_extent=extent)


def analysis_size(width: int, height: int, cfg: LocaliseConfig) -> tuple[int, int]:
    """``(width, height)`` at which frames of ``width x height`` are analysed: ``cfg.analysis_width`` wide at most,
    the frame's proportions kept."""
    aw = min(cfg.analysis_width, width)
    return aw, max(8, int(round(height * aw / width)))


def analysis_grey(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` ``[H, W, 3] uint8`` (RGB) -> grey ``[h, w] uint8`` at ``size`` ``(w, h)`` (area filter), softened
    by a 5x5 Gaussian so sensor grain and codec blocks do not read as movement or corners."""
    return cv2.GaussianBlur(cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA), (5, 5), 1.0)


def steady_paths(grey: np.ndarray, refine: bool = False) -> np.ndarray:
    """How to steady each frame of ``grey`` ``[N, H, W] uint8`` onto the middle one: ``[N, 2, 3]`` float64 affine
    maps (pixels). Corners of the middle frame are followed by pyramidal optical flow and a similarity (rotation,
    scale, shift) fitted by RANSAC, so the infant's own movement is left out as outliers; a frame with too few
    corners followed (a plain wall) falls back to the phase-correlation shift.

    With ``refine``, each map is then refined on every pixel (``_refined``): the corners' fit is exact where the
    corners are, which in a wide view is the textured cot, and a small error of its angle or scale grows with the
    distance from them, so a high-contrast object far away (an EEG monitor by the wall) kept a residual that
    outweighed the infant in the steadied movement; an affine map also holds a rolling shutter's shear. On the
    silhouette cohort's wide views re-filmed by a shaking hand (``benchmarks/steadying.py``) the movement's box was
    centred on the infant in 9 of 38 segments with the corners' fit and in 36 refined. It is off by default: the
    views stay whole all the same (their infant's box is under ``steady_min_box``), and cross-validation on that
    cohort scored 0.862 refined against 0.866 (``LocaliseConfig.refine``)."""
    ref = grey[len(grey) // 2]
    corners = cv2.goodFeaturesToTrack(ref, maxCorners=300, qualityLevel=0.01, minDistance=4)
    ref32 = ref.astype(np.float32)
    paths = np.empty((len(grey), 2, 3))
    fitted = np.zeros(len(grey), bool)  # the corners' fit stands; the others fell back to phase correlation
    for i, g in enumerate(grey):
        m = None
        if corners is not None and len(corners) >= 8:
            moved, found, _ = cv2.calcOpticalFlowPyrLK(ref, g, corners, None, winSize=(21, 21), maxLevel=3)
            ok = found[:, 0] == 1
            if ok.sum() >= 8:
                m, _ = cv2.estimateAffinePartial2D(moved[ok], corners[ok], method=cv2.RANSAC, ransacReprojThreshold=1.0)
        fitted[i] = m is not None
        if m is None:
            (dx, dy), _ = cv2.phaseCorrelate(ref32, g.astype(np.float32))
            m = np.array([[1.0, 0.0, -dx], [0.0, 1.0, -dy]])
        paths[i] = m
    if not refine or not fitted.any():
        return paths
    # Twice: the first refinement uses every pixel, so a large moving infant pulls it towards its own movement
    # (a fifth to two fifths of a spasm's steadied movement went in close views); the second leaves out what still
    # moves after the first. A picture too plain for corners is too plain for the refinement: its shift stands.
    paths = _refined(grey, paths, None, fitted)
    return _refined(grey, paths, _still_pixels(grey, paths), fitted)


# ECC's stopping rule: 20 iterations, or a gain in correlation under 0.001. Tighter (50, 0.0001) costs twice the
# time for no steadier map on the re-filmed wide views.
_ECC_STOP = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 1e-3)


def _refined(grey: np.ndarray, paths: np.ndarray, still: np.ndarray | None, which: np.ndarray) -> np.ndarray:
    """``paths`` ``[N, 2, 3]`` (frame -> middle frame of ``grey`` ``[N, H, W] uint8``) refined, for the frames where
    ``which`` ``[N] bool`` is true, by ECC (Evangelidis and Psarakis 2008: the affine map that maximises the
    correlation of each frame with the middle one over every pixel, or over ``still``, a ``[H, W] uint8`` mask of the
    middle frame's still pixels, 255 where still). A frame whose refinement does not converge keeps its map."""
    h, w = grey.shape[1:]
    ref = grey[len(grey) // 2].astype(np.float32)
    out = paths.copy()
    for i, (g, m) in enumerate(zip(grey, paths)):
        if not which[i]:
            continue
        warp = cv2.invertAffineTransform(m).astype(np.float32)  # ECC maps the middle frame's pixels into the frame's
        mask = None if still is None else cv2.warpAffine(still, warp, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
        try:
            _, warp = cv2.findTransformECC(ref, g.astype(np.float32), warp, cv2.MOTION_AFFINE, _ECC_STOP, mask, 5)
        except cv2.error:  # no convergence (a frame too unlike the middle one): the corners' map stands
            continue
        out[i] = cv2.invertAffineTransform(warp)
    return out


def _still_pixels(grey: np.ndarray, paths: np.ndarray) -> np.ndarray | None:
    """``[H, W] uint8``: 255 where nothing moves in ``grey`` ``[N, H, W] uint8`` steadied by ``paths``, 0 around what
    does (the upper quartile over frames of the difference from the middle frame, above its noise floor and a fifth
    of its peak, widened by 4 pixels); ``None`` when less than a quarter of the frame is still (no mask is better
    than one that leaves the camera too little to be measured by)."""
    n, h, w = grey.shape
    middle = grey[n // 2].astype(np.float32)
    held = np.stack([np.abs(cv2.warpAffine(g, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32) - middle) for g, m in zip(grey, paths)])
    moved = upper_quartile(held)
    moved = cv2.GaussianBlur(np.maximum(moved - noise_floor(moved), 0.0), (0, 0), 2.0)
    if moved.max() <= 0:
        return np.full((h, w), 255, np.uint8)
    moving = cv2.dilate((moved > 0.2 * moved.max()).astype(np.uint8), np.ones((9, 9), np.uint8))
    return None if moving.mean() > 0.75 else ((1 - moving) * 255).astype(np.uint8)


def steady_taps(frames: np.ndarray, taps: np.ndarray, cfg: LocaliseConfig | None = None, apart: int = 2) -> np.ndarray:
    """``frames`` ``[N, H, W, 3] uint8`` with those at ``taps`` (the ones a clip reads, in order) held onto the middle
    tap's frame when the camera moves: ``steady_paths`` on the taps in grey at the analysis width, each map scaled to
    the frame's pixels. A still camera (median shift between taps ``apart`` apart, one clip frame, at most
    ``camera_motion`` of the short side, as the localiser judges a window) gets ``frames`` back unchanged, so an
    infant filling a tripod's view is never steadied onto itself. ``apart`` is 2 for a decoded segment's taps (the two
    neighbours of each clip frame) and 1 for frames drawn one per clip frame (``synth.stream``). Returns
    ``[N, H, W, 3] uint8``; frames off the taps are left as they are."""
    cfg = cfg or LocaliseConfig()
    h, w = frames.shape[1:3]
    aw, ah = analysis_size(w, h, cfg)
    grey = np.stack([analysis_grey(frames[i], (aw, ah)) for i in taps])
    if not camera_moves(grey[::apart].astype(np.float32), 1, cfg):
        return frames
    scale = np.diag([w / aw, h / ah])
    out = frames.copy()
    for i, m in zip(taps, steady_paths(grey, cfg.refine)):
        full = np.concatenate([scale @ m[:, :2] @ np.linalg.inv(scale), scale @ m[:, 2:]], axis=1)
        out[i] = cv2.warpAffine(frames[i], full, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out


def camera_moves(grey: np.ndarray, lag: int, cfg: LocaliseConfig) -> bool:
    """Whether the camera moves in ``grey`` ``[N, H, W] float32`` (frames at the analysis size): the median shift
    between frames ``lag`` apart (``camera_shift``) is above ``cfg.camera_motion`` of the short side. The one test
    of a moving camera, for the localiser, the clip's steadying and the benchmarks that report what they did."""
    return camera_shift(grey, lag) > cfg.camera_motion * min(grey.shape[1:3])


def camera_shift(frames: np.ndarray, lag: int) -> float:
    """Median global shift, in pixels, between frames ``lag`` apart of ``frames`` ``[N, H, W] float32`` (grey),
    by phase correlation at half size (a tenth of the cost, sub-pixel all the same); 0 for fewer than
    ``lag + 1`` frames. A still camera gives the drift of a large infant at most; a hand-held one, its shake."""
    if len(frames) <= lag:
        return 0.0
    half = np.stack([cv2.pyrDown(f) for f in frames])
    window = cv2.createHanningWindow((half.shape[2], half.shape[1]), cv2.CV_32F)
    shifts = [math.hypot(*cv2.phaseCorrelate(a, b, window)[0]) for a, b in zip(half[:-lag], half[lag:])]
    return 2.0 * float(np.median(shifts))


def noise_floor(moved: np.ndarray) -> float:
    """The grey level under which a map of differences ``moved`` (any shape) is sensor and codec noise: its median
    plus three robust standard deviations (1.4826 x MAD), as most of a view does not move."""
    # Imported here: scipy.stats takes a second to load, and commands that only check their input never get here.
    from scipy.stats import median_abs_deviation

    return float(np.median(moved)) + 3 * 1.4826 * float(median_abs_deviation(moved, axis=None))


def upper_quartile(x: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
    """``np.percentile(x, 75, axis=0)`` (linear interpolation), bit for bit, about 4x faster on a window's
    ``[48, H, W]`` differences: a sort along the first axis touches the array in the order it lies, where
    percentile's partition walks it across strides. ``scratch``, shaped like ``x``, takes the sorted copy."""
    n = x.shape[0]
    if scratch is None:
        ordered = np.sort(x, axis=0)
    else:
        np.copyto(scratch, x)
        scratch.sort(axis=0)
        ordered = scratch
    at = (n - 1) * 0.75
    lo = int(math.floor(at))
    hi = min(lo + 1, n - 1)
    t = np.asarray(at - lo, dtype=x.dtype)
    a, b = ordered[lo], ordered[hi]
    # NumPy's own interpolation, which counts from the nearer neighbour (_lerp in numpy's function_base).
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two equal-size grey patches, clipped to [0, 1]; 0 when either is flat."""
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float(np.clip((a * b).sum() / norm, 0.0, 1.0)) if norm > 1e-6 else 0.0


def _region(score: np.ndarray, level: float, tail: float) -> tuple[int, int, int, int] | None:
    """The box holding all but ``tail`` of the map's mass on each side, counting only values at or above ``level``
    of the peak (so scattered noise weighs nothing); None when the map is empty. Mass quantiles keep a whole
    moving body in the box where the largest blob would keep one kicking leg."""
    peak = float(score.max())
    if peak <= 1e-6:
        return None
    mass = np.where(score >= level * peak, score, 0.0)
    edges = []
    for axis in (0, 1):  # columns (x), then rows (y)
        cum = np.cumsum(mass.sum(axis=axis))
        cum /= cum[-1]
        lo, hi = int(np.searchsorted(cum, tail)), int(np.searchsorted(cum, 1 - tail))
        edges.append((lo, hi))
    (x0, x1), (y0, y1) = edges
    return x0, y0, x1 - x0 + 1, y1 - y0 + 1
