"""Labelled synthetic clips drawn on the fly, straight into model input, for supervised pretraining.

A cohort on disk costs about 10x realtime to draw and encode; pretraining wants tens of thousands of
segments, each from a new child and recording. Here every clip is a fresh child (``sample_look``), a
fresh recording (``sample_recording``) and one 5-s timeline (``make_timeline``) drawn by the same code
as ``spasmscope synth``, but only the ``T`` frames the model sees are drawn, at about twice the clip
size, and they go through the same square resize as a decoded segment (``preprocess.make_clips``).

A wide view is cut around the infant where the generator knows it to be. A close view is shown whole and
unsteadied unless it gets the pipeline's view (``StreamConfig.pipeline_view``): drawn at the working size a cut
segment is decoded at, cut by the motion localiser, held still as a hand-held segment is (``pipeline_frames``). The
cut and steadying cost a backbone that never saw them 0.06-0.08 of AUC on a cohort's close views by day
(``benchmarks/where_lost.py``); showing them to half the close views of a continued pretraining did not win that
back (BENCHMARKS.md, 2026-12-05), so the stream's default is 0.

What is not imitated: the codec's artefacts (clips are never encoded) and the exact sensor noise
level after downscaling (noise is drawn at the small size, so it is somewhat stronger than in a
decoded 720p file).

Clip ``i`` of a stream depends only on ``(STREAM_TAG, seed, i)``, never on worker count or order, and
that entropy is disjoint from every ``synth --seed`` cohort (those seed a generator with one integer).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from spasmscope.data.localise import LocaliseConfig, MotionLocaliser, crop_around, steady_taps
from spasmscope.data.preprocess import ClipConfig, decode_size, to_square, working_size
from spasmscope.data.segments import SEGMENT_S
from spasmscope.errors import SettingError
from spasmscope.synth.look import VARIETY_TAG, ChildLook, Recording, sample_look, sample_recording, vary_spasm
from spasmscope.synth.motion import (
    MIMIC_SECONDS,
    MIMIC_TAG,
    MIMICS,
    STARTLE_TAG,
    Spasm,
    Timeline,
    contraction,
    make_timeline,
    movement_frames,
    sample_spasm,
)
from spasmscope.synth.render import Scene
from spasmscope.synth.renderers import renderer

STREAM_TAG = 0x5F5A  # first word of every stream clip's entropy: keeps streams apart from cohorts
RENDERER_TAG = 0x5F5B  # first word of the draw of a clip's renderer
PARTNER_TAG = 0x5F5C  # first word of the draws of the second renderer that draws a clip's movement (``partner``)
VIEW_TAG = 0x5F5D  # first word of the draw of whether a close view gets the pipeline's view (``pipeline_frames``)
PRINT_DRAW_TAG = 0x5F5E  # first word of the draw of whether, and how boldly, a clip's sheet is printed (``bold_prints``)
STREAM_FPS = 30  # the timeline's rate; segments are resampled to 30 fps anyway (METHOD §2)


@dataclass(frozen=True)
class StreamConfig:
    """What the clips of a stream look like; defaults follow ``SynthConfig``'s derivation cohort."""

    seed: int = 0
    spasm_fraction: float = 0.5  # clips with a spasm (balanced classes for pretraining)
    confounder_rate: float = 0.9  # kicks, flails, turns, hands, jolts per 5 s without a spasm
    wide_fraction: float = 0.2  # wide-view (video-EEG) recordings
    night_fraction: float = 0.1  # close-view recordings at night (wide views: 45%)
    shifted_look: bool = False  # draw looks from the disjoint domain instead
    renderers: tuple[str, ...] = ("articulated",)  # each clip is drawn by one of these, in turn at random (synth.renderers)
    startle_rate: float = 0.0  # share of clips without a spasm that show a startle reflex (a hard negative)
    mimic_rate: float = 0.0  # share of clips without a spasm or startle that show another mimic (motion.mimic)
    spasm_variety: float = 0.0  # share of spasm clips whose child's spasm takes another form (look.vary_spasm)
    pipeline_view: float = 0.0  # share of close views cut and steadied as the pipeline does (``pipeline_frames``)
    bold_prints: float = 0.0  # share of clips whose sheet is printed in a colour of its own (``ChildLook.print_contrast``)

    def __post_init__(self) -> None:
        if not self.renderers:
            raise SettingError("renderers=()", "name at least one renderer")
        for name in self.renderers:
            renderer(name)
        for name in ("startle_rate", "mimic_rate", "spasm_variety", "pipeline_view", "bold_prints"):
            if not 0 <= getattr(self, name) <= 1:
                raise SettingError(f"{name}={getattr(self, name)} is not a share", f"give {name} between 0 and 1")


def ease(look: ChildLook, rec: Recording) -> tuple[ChildLook, Recording]:
    """An easy version of a clip's child and recording, for the start of a curriculum: close, square, steady,
    plain background, calm infant, the child's spasm pattern at full strength. The spasm pattern and the
    colours stay the child's own."""
    spasm = np.asarray(look.spasm)
    spasm = spasm / max(float(np.abs(spasm).max()), 1e-6) * 0.95
    look = dataclasses.replace(look, distance=0.85, pattern=0, spasm=tuple(float(v) for v in spasm), activity=0.6, angle=0.0)
    side = min(rec.width, rec.height)
    rec = dataclasses.replace(rec, width=side, height=side, handheld=False, blur=0.0, night=False, wide=False)
    return look, rec


def clip_rng(cfg: StreamConfig, index: int) -> np.random.Generator:
    """The generator that decides clip ``index`` of the stream ``cfg``."""
    return np.random.default_rng([STREAM_TAG, cfg.seed, index])


@dataclass(frozen=True)
class StreamClip:
    """One drawn clip and what the generator knows about it (free labels for pretraining)."""

    clip: np.ndarray  # uint8 [1, T, S, S, 3], as a cached segment
    label: int  # 1: a spasm in the 5 s
    contraction: np.ndarray  # float32 [T]: spasm contraction 0-1 at each of the T frames
    pose: np.ndarray  # float32 [T, N_POSE]: joint angles minus the child's resting pose, radians
    movements: np.ndarray  # float32 [T, len(MOVEMENT_KINDS)]: 1 where a movement of that kind is under way


@dataclass(frozen=True)
class ClipPlan:
    """Everything decided about clip ``index`` of a stream before a pixel is drawn."""

    look: ChildLook
    rec: Recording  # at the size the frames are drawn at, 30 fps
    label: int  # 1: a spasm in the 5 s
    spasms: tuple[Spasm, ...]
    scene: Scene
    timeline: Timeline  # the whole 5 s at 30 fps
    shown: np.ndarray  # int [T]: the timeline frames the clip shows
    cropped: bool  # a wide view, cut around the infant as the localiser would
    piped: bool = False  # a close view given the pipeline's view (``pipeline_frames``), drawn at the working size

    @property
    def contraction(self) -> np.ndarray:
        """float32 ``[T]``: spasm contraction 0-1 at each shown frame."""
        level = sum((contraction(self.timeline.t[self.shown], s) for s in self.spasms), np.zeros(len(self.shown)))
        return level.astype(np.float32)

    @property
    def pose(self) -> np.ndarray:
        """float32 ``[T, N_POSE]``: joint angles minus the child's resting pose at each shown frame, radians."""
        return (self.timeline.pose[self.shown] - np.asarray(self.look.rest)).astype(np.float32)

    @property
    def movements(self) -> np.ndarray:
        """float32 ``[T, len(MOVEMENT_KINDS)]``: which movements other than a spasm are under way at each shown frame."""
        return movement_frames(self.timeline.movements, self.timeline.t[self.shown])


def plan_clip(cfg: StreamConfig, index: int, clip: ClipConfig, easy: float = 0.0) -> ClipPlan:
    """Decide clip ``index`` of the stream: its child, recording, movements and shown frames; with probability
    ``easy`` it is drawn easy (``ease``) and without other movements around it.

    Only ``temporal="resize"`` clips are planned (the frames the trilinear resize would centre on).
    """
    if clip.temporal != "resize":
        raise ValueError(f"temporal={clip.temporal!r}; stream clips are drawn for temporal='resize' only")
    rng = clip_rng(cfg, index)
    look = sample_look(rng, shifted=cfg.shifted_look)
    wide = bool(rng.uniform() < cfg.wide_fraction)
    night = bool(rng.uniform() < (0.45 if wide else cfg.night_fraction))
    rec = sample_recording(rng, wide=wide, night=night)
    is_easy = bool(rng.uniform() < easy)
    if is_easy:
        look, rec = ease(look, rec)
    # Draw at about twice the clip size, as decoding does (preprocess.decode_size), keeping the aspect ratio; a
    # wide view to be cropped around the infant, or a close view given the pipeline's view, at the working size
    # screening and prepare decode it at. The pipeline's view has a draw of its own: the stream is otherwise as it was.
    cropped = clip.crop_infant and rec.wide
    piped = cfg.pipeline_view > 0 and not rec.wide and bool(np.random.default_rng([VIEW_TAG, cfg.seed, index]).uniform() < cfg.pipeline_view)
    w, h = working_size(rec.width, rec.height, clip) if cropped or piped else (rec.width, rec.height)
    scale = 1.0 if cropped or piped else min(1.0, 2 * clip.size / min(w, h))
    rec = dataclasses.replace(rec, width=max(2, round(w * scale)), height=max(2, round(h * scale)), fps=Fraction(STREAM_FPS))

    label = int(rng.uniform() < cfg.spasm_fraction)
    if cfg.spasm_variety > 0 and label:  # draws of their own, as startles below
        own = np.random.default_rng([VARIETY_TAG, cfg.seed, index])
        look = vary_spasm(look, own) if own.uniform() < cfg.spasm_variety else look
    spasms = []
    if label:
        spasm = sample_spasm(rng, look, 0.0)
        onset = rng.uniform(0.2, max(0.2, SEGMENT_S - spasm.duration - 0.2))
        spasms.append(dataclasses.replace(spasm, onset=float(onset)))
    # As in synth cohorts: fewer other events around a spasm, so motion energy does not give it away.
    confounders = [(0.0, SEGMENT_S, 0.0 if is_easy else cfg.confounder_rate * (0.55 if label else 1.0))]
    if cfg.bold_prints > 0:  # a draw of its own, as startles below
        own = np.random.default_rng([PRINT_DRAW_TAG, cfg.seed, index])
        if own.uniform() < cfg.bold_prints:
            look = dataclasses.replace(look, print_contrast=float(own.uniform(0.4, 1.0)))
    scene = renderer(clip_renderer(cfg, index))(look, rec, rng)
    startles = ()
    if cfg.startle_rate > 0 and not label:  # draws of their own: a stream without startles is as it was
        own = np.random.default_rng([STARTLE_TAG, cfg.seed, index])
        startles = (float(own.uniform(0.2, SEGMENT_S - 1.8)),) if own.uniform() < cfg.startle_rate else ()
    mimics = ()
    if cfg.mimic_rate > 0 and not label and not startles:
        own = np.random.default_rng([MIMIC_TAG, cfg.seed, index])
        kind, draw = MIMICS[int(own.integers(len(MIMICS)))], own.uniform()
        mimics = ((kind, round(float(own.uniform(0.1, SEGMENT_S - MIMIC_SECONDS[kind] - 0.1)), 3)),) if draw < cfg.mimic_rate else ()
    timeline = make_timeline(rng, look, rec, SEGMENT_S, spasms, confounders, startles, mimics)

    n = len(timeline.t)
    # The source frames a trilinear resize of n frames to T (align_corners=False) centres on.
    centres = (np.arange(clip.frames) + 0.5) * n / clip.frames - 0.5
    shown = np.clip(np.round(centres), 0, n - 1).astype(int)
    return ClipPlan(look, rec, label, tuple(spasms), scene, timeline, shown, cropped, piped)


def movement_rates(cfg: StreamConfig, clip: ClipConfig, n: int = 512) -> np.ndarray:
    """float64 ``[len(MOVEMENT_KINDS)]``: the share of shown frames in which each movement other than a spasm is under
    way, over the stream's first ``n`` clips drawn at full difficulty (planned only: no pixels are drawn)."""
    return np.mean([plan_clip(cfg, i, clip).movements.mean(axis=0) for i in range(n)], axis=0)


def clip_renderer(cfg: StreamConfig, index: int) -> str:
    """The renderer that draws clip ``index``. It has a draw of its own, so a stream of one renderer is the same
    whichever it is."""
    return cfg.renderers[int(np.random.default_rng([RENDERER_TAG, cfg.seed, index]).integers(len(cfg.renderers)))]


def partner(cfg: StreamConfig, index: int) -> str:
    """Another of the stream's renderers, to draw clip ``index``'s movement a second time (``sample_clip``'s
    ``redraw``); from draws of its own. Needs at least two renderers."""
    others = [r for r in cfg.renderers if r != clip_renderer(cfg, index)]
    if not others:
        raise SettingError(f"renderers={list(cfg.renderers)}", "drawing a clip twice needs at least two renderers")
    return others[int(np.random.default_rng([PARTNER_TAG, cfg.seed, index]).integers(len(others)))]


def sample_clip(cfg: StreamConfig, index: int, clip: ClipConfig, easy: float = 0.0, redraw: bool = False) -> StreamClip:
    """Clip ``index`` of the stream, drawn (``plan_clip`` decides it). With ``redraw``, the same child, recording,
    timeline and shown frames drawn by another renderer (``partner``) in a scene of its own: the same movement in
    another picture, with the same targets."""
    plan = plan_clip(cfg, index, clip, easy)
    scene, timeline, rec = plan.scene, plan.timeline, plan.rec
    if redraw:
        scene = renderer(partner(cfg, index))(plan.look, rec, np.random.default_rng([PARTNER_TAG, cfg.seed, index, 1]))
    frames = np.stack([scene.render(timeline, int(k)) for k in plan.shown])
    if plan.cropped:
        # Where the localiser would crop: around everywhere the infant was in these frames (the generator knows).
        boxes = np.array([scene.box(timeline, int(k)) for k in plan.shown])
        x0, y0 = boxes[:, 0].min(), boxes[:, 1].min()
        x1, y1 = (boxes[:, 0] + boxes[:, 2]).max(), (boxes[:, 1] + boxes[:, 3]).max()
        x, y, cw, ch = crop_around((int(x0), int(y0), int(np.ceil(x1 - x0)), int(np.ceil(y1 - y0))), rec.width, rec.height, LocaliseConfig())
        frames = frames[:, y : y + ch, x : x + cw]
    elif plan.piped:
        frames = pipeline_frames(frames, clip)
    return StreamClip(square_clip(frames, clip), plan.label, plan.contraction, plan.pose, plan.movements)


def pipeline_frames(frames: np.ndarray, clip: ClipConfig) -> np.ndarray:
    """A close view's shown frames ``[T, H, W, 3] uint8`` (drawn at ``working_size``) as ``preprocess.crop_clip`` leaves
    a decoded segment before its resize in time: cut where the motion localiser finds the infant (``clip.crop_infant``),
    held onto the middle frame when the camera moves (``clip.steady``), brought to ``decode_size`` by an area filter.
    Returns ``[T, h, w, 3] uint8``.

    The localiser and the steadying see the T shown frames only, 5/T s apart, where a segment gives them a frame
    every 0.1 s and the two neighbours of each shown frame: the localiser's differences span 0.6 s, not 0.2 s."""
    height, width = frames.shape[1:3]
    x, y, w, h = MotionLocaliser().update(frames, len(frames) / SEGMENT_S).crop if clip.crop_infant else (0, 0, width, height)
    if clip.steady:
        frames = steady_taps(frames, np.arange(len(frames)), apart=1)
    part = frames[:, y : y + h, x : x + w]
    dw, dh = decode_size(w, h, clip)
    if (dw, dh) == (w, h):
        return part
    return np.stack([cv2.resize(f, (dw, dh), interpolation=cv2.INTER_AREA) for f in part])


def square_clip(frames: np.ndarray, clip: ClipConfig) -> np.ndarray:
    """``[T, H, W, 3] uint8`` -> ``[1, T, S, S, 3] uint8``, as ``preprocess.make_clips`` makes it from T frames.

    With the frame count unchanged, the trilinear resize (align_corners=False) is a half-pixel bilinear resize
    of each frame, which is what OpenCV's INTER_LINEAR computes: equal to within one grey level of rounding,
    and 3x faster.
    """
    square = to_square(frames, clip.spatial)
    return np.stack([cv2.resize(f, (clip.size, clip.size), interpolation=cv2.INTER_LINEAR) for f in square])[None]
