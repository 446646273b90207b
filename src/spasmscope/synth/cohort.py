"""Synthetic cohorts: children with spasms and healthy infants, their videos, manifest and events.

Layout written under ``out``::

    videos/*.mp4       one file per recording (H.264 through PyAV)
    long/*.mp4         long wide-view recordings for screening (``long_minutes > 0``)
    manifest.csv       5-s segments: video, child, start, end, label, cohort + recording metadata
    events.csv         every spasm: video, onset, offset, child (seconds)
    positions.csv      the infant's box every 0.5 s while in view: video, time, x, y, w, h (upright pixels)
    gaps.csv           stretches of long recordings without the infant or in the dark: video, start, end, kind
    movements.csv      every movement drawn that is not a spasm (kick, flail, turn, hand, jolt, zoom, startle, the
                       mimics): video, kind, onset, offset (seconds; a mimic's offset is the longest its kind lasts)
    synth.json         the configuration and version that made it

Everything is decided from ``seed`` before any video is drawn, and each video has its own seed, so the
output does not depend on the number of worker processes. A re-run with the same configuration
skips videos that are already complete (each is written atomically).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spasmscope import __version__, atomic
from spasmscope.data.batch import default_workers, run_jobs
from spasmscope.data.segments import SEGMENT_S
from spasmscope.errors import InputError, SettingError
from spasmscope.progress import Progress, counter
from spasmscope.synth.look import VARIETY_TAG, ChildLook, Recording, sample_look, sample_recording, vary_spasm
from spasmscope.synth.motion import MIMIC_SECONDS, MIMIC_TAG, MIMICS, STARTLE_TAG, Spasm, Timeline, make_timeline, sample_spasm
from spasmscope.synth.render import Scene
from spasmscope.synth.renderers import renderer


@dataclass(frozen=True)
class SynthConfig:
    children: int = 20  # children with spasms
    healthy: int = 10  # infants without spasms (their segments are all label 0)
    seed: int = 0
    cohort: str = "derivation"  # cohort of the children with spasms
    healthy_cohort: str = "healthy"  # cohort of the healthy infants
    id_prefix: str = ""  # prepended to child ids, to keep several cohorts apart
    videos_per_child: tuple[int, int] = (1, 3)  # inclusive range
    segments_per_video: tuple[int, int] = (2, 5)  # inclusive range of 5-s segments
    spasm_fraction: float = 0.6  # segments with a spasm in children with spasms (paper: 991 of 1,588)
    confounder_rate: float = 0.9  # kicks, flails, turns, hands, jolts per 5 s in segments without a spasm
    wide_fraction: float = 0.12  # recordings in wide view (video-EEG style)
    night_fraction: float = 0.08  # close-view recordings at night (wide views: 45%)
    shifted_look: bool = False  # draw looks from the disjoint domain (generalisation tests)
    long_minutes: float = 0.0  # length of each long recording; 0 for none
    long_count: int = 1  # how many long recordings (children with spasms, in turn)
    renderer: str = "articulated"  # which of the family draws the videos (synth.renderers)
    startle_rate: float = 0.0  # share of segments without a spasm that hold a startle reflex (manifest column `startle`)
    mimic_rate: float = 0.0  # share of the segments without a spasm or startle that hold another mimic (column `mimic`)
    spasm_variety: float = 0.0  # share of children with spasms of another form: asymmetric, a head nod, a shrug

    def __post_init__(self) -> None:
        renderer(self.renderer)
        for name in ("children", "healthy", "long_count"):
            if getattr(self, name) < 0:
                raise SettingError(f"{name}={getattr(self, name)}", f"give {name} as 0 or more")
        if self.children + self.healthy == 0:
            raise SettingError("children=0, healthy=0 make an empty cohort", "ask for at least one child")
        if not self.long_minutes >= 0:
            raise SettingError(f"long_minutes={self.long_minutes}", "give the long recordings' length in minutes, 0 for none")
        for name in ("startle_rate", "mimic_rate", "spasm_variety", "wide_fraction", "night_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise SettingError(f"{name}={getattr(self, name)} is not a share", f"give {name} between 0 and 1")


@dataclass(frozen=True)
class VideoPlan:
    name: str  # file name under videos/ or long/
    folder: str
    child: str
    cohort: str
    look: ChildLook
    rec: Recording
    duration: float  # seconds
    spasms: tuple[Spasm, ...]
    confounders: tuple[tuple[float, float, float], ...]
    labels: tuple[int, ...]  # per 5-s segment; empty for long recordings (not in the manifest)
    meta: tuple[tuple[str, float], ...]  # extra manifest columns (social-media metadata)
    seed: int
    absent: tuple[tuple[float, float], ...] = ()  # seconds without the infant in view (taken out of the cot)
    dark: tuple[tuple[float, float], ...] = ()  # seconds in a dark room (light off, no infrared)
    renderer: str = "articulated"  # which of the family draws it (synth.renderers)
    startles: tuple[float, ...] = ()  # onsets (seconds) of startle reflexes, each in a segment without a spasm
    mimics: tuple[tuple[str, float], ...] = ()  # (kind, onset seconds) of other mimics (motion.mimic), one per segment at most


def plan_cohort(cfg: SynthConfig) -> list[VideoPlan]:
    """Decide every child, recording, segment label and spasm time from ``cfg.seed``."""
    rng = np.random.default_rng(cfg.seed)
    seeds = iter(np.random.SeedSequence(cfg.seed).spawn(10_000 + 10 * (cfg.children + cfg.healthy)))
    plans: list[VideoPlan] = []
    children = [(f"{cfg.id_prefix}es{i:03d}", True) for i in range(cfg.children)]
    children += [(f"{cfg.id_prefix}hc{i:03d}", False) for i in range(cfg.healthy)]
    looks: dict[str, ChildLook] = {}
    for c, (child, has_spasms) in enumerate(children):
        look = sample_look(rng, shifted=cfg.shifted_look)
        if cfg.spasm_variety > 0:  # draws of its own: a cohort without variety is drawn as before
            own = np.random.default_rng([VARIETY_TAG, cfg.seed, c])
            look = vary_spasm(look, own) if own.uniform() < cfg.spasm_variety else look
        looks[child] = look
        n_videos = int(rng.integers(cfg.videos_per_child[0], cfg.videos_per_child[1] + 1))
        for v in range(n_videos):
            rec = _recording(rng, cfg)
            n_seg = int(rng.integers(cfg.segments_per_video[0], cfg.segments_per_video[1] + 1))
            labels = [int(has_spasms and rng.uniform() < cfg.spasm_fraction) for _ in range(n_seg)]
            if has_spasms and v == 0 and not any(labels):
                labels[int(rng.integers(n_seg))] = 1  # every child with spasms shows at least one
            spasms, confounders = [], []
            for s, label in enumerate(labels):
                lo, hi = s * SEGMENT_S, (s + 1) * SEGMENT_S
                if label:
                    spasm = sample_spasm(rng, look, 0.0)
                    onset = rng.uniform(lo + 0.2, hi - spasm.duration - 0.2)
                    spasms.append(dataclasses.replace(spasm, onset=float(onset)))
                # A spasm segment has fewer other events, so that motion energy does not give it away.
                confounders.append((lo, hi, cfg.confounder_rate * (0.55 if label else 1.0)))
            meta = _social_meta(rng) if not rec.wide else ()
            seed = int(next(seeds).generate_state(1)[0])
            plans.append(
                VideoPlan(
                    name=f"{child}_v{v}.mp4",
                    folder="videos",
                    child=child,
                    cohort=cfg.cohort if has_spasms else cfg.healthy_cohort,
                    look=look,
                    rec=rec,
                    duration=n_seg * SEGMENT_S,
                    spasms=tuple(spasms),
                    confounders=tuple(confounders),
                    labels=tuple(labels),
                    meta=meta,
                    seed=seed,
                    renderer=cfg.renderer,
                    startles=(startles := _startles(seed, labels, cfg.startle_rate)),
                    mimics=_mimics(seed, labels, startles, cfg.mimic_rate),
                )
            )
    with_spasms = [c for c, s in children if s] or [c for c, _ in children]
    for j in range(cfg.long_count if cfg.long_minutes > 0 else 0):
        child = with_spasms[j % len(with_spasms)]
        look = looks[child]
        rec = sample_recording(rng, wide=True, night=bool(j % 2))
        duration = float(cfg.long_minutes) * 60
        spasms = _clusters(rng, look, duration) if child.startswith(f"{cfg.id_prefix}es") else []
        seed = int(next(seeds).generate_state(1)[0])
        absent, dark = _gaps(np.random.default_rng([seed, 1]), duration)
        # Nobody has a spasm out of view; spasms in the dark happen, but no camera can show them.
        spasms = [s for s in spasms if not any(s.onset < b and a < s.offset for a, b in absent)]
        plans.append(
            VideoPlan(
                name=f"{child}_long{j}.mp4",
                folder="long",
                child=child,
                cohort=cfg.cohort,
                look=look,
                rec=rec,
                duration=duration,
                spasms=tuple(spasms),
                confounders=((0.0, duration, cfg.confounder_rate * 0.5),),
                labels=(),
                meta=(),
                seed=seed,
                absent=absent,
                dark=dark,
                renderer=cfg.renderer,
            )
        )
    return plans


def _gaps(rng: np.random.Generator, duration: float) -> tuple[tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]]:
    """One stretch without the infant and one in the dark, each 4-8% of a recording of at least 2 minutes,
    apart from each other and from the recording's first and last 10%: what a screening quality gate must catch."""
    if duration < 120:
        return (), ()
    spans = []
    for half in (0, 1):  # the first stretch in the first half, the second in the second: never overlapping
        length = duration * rng.uniform(0.04, 0.08)
        lo, hi = duration * (0.1 + 0.4 * half), duration * (0.5 + 0.4 * half) - length
        start = float(rng.uniform(lo, hi))
        spans.append(((round(start, 2), round(start + length, 2)),))
    return spans[0], spans[1]


def _recording(rng: np.random.Generator, cfg: SynthConfig) -> Recording:
    wide = bool(rng.uniform() < cfg.wide_fraction)
    night = bool(rng.uniform() < (0.45 if wide else cfg.night_fraction))
    return sample_recording(rng, wide=wide, night=night)


def _social_meta(rng: np.random.Generator) -> tuple[tuple[str, float], ...]:
    views = float(np.round(np.exp(rng.normal(9.0, 1.8))))
    return (
        ("upload_year", float(rng.integers(2007, 2025))),
        ("views", views),
        ("likes", float(np.round(views * rng.uniform(0.001, 0.01)))),
        ("comments", float(np.round(views * rng.uniform(0.0001, 0.002)))),
    )


def _clusters(rng: np.random.Generator, look: ChildLook, duration: float) -> list[Spasm]:
    """Spasms in clusters: a cluster every few minutes, spasms in it 5-30 s apart."""
    spasms: list[Spasm] = []
    t = rng.uniform(30, 240)
    while t < duration - 10:
        onset = t
        for _ in range(int(rng.integers(3, 12))):
            s = sample_spasm(rng, look, float(onset))
            if s.offset > duration - 1:
                break
            spasms.append(s)
            onset = s.offset + rng.uniform(4, 28)
        t = onset + rng.uniform(240, 900)
    return spasms


def _startles(seed: int, labels: list[int], rate: float) -> tuple[float, ...]:
    """Onsets of startle reflexes: in each segment without a spasm with probability ``rate``, from draws of their
    own (a cohort without startles is drawn as before)."""
    if rate <= 0:
        return ()
    rng = np.random.default_rng([STARTLE_TAG, seed])
    return tuple(float(rng.uniform(s * SEGMENT_S + 0.2, (s + 1) * SEGMENT_S - 1.8)) for s, label in enumerate(labels) if rng.uniform() < rate and not label)


def _mimics(seed: int, labels: list[int], startles: tuple[float, ...], rate: float) -> tuple[tuple[str, float], ...]:
    """Other mimics (``motion.mimic``): in each segment without a spasm or a startle, with probability ``rate``, one
    of ``MIMICS`` (each as likely) starting early enough to end in it; from draws of their own."""
    if rate <= 0:
        return ()
    rng = np.random.default_rng([MIMIC_TAG, seed])
    out = []
    for s, label in enumerate(labels):
        kind, start, draw = MIMICS[int(rng.integers(len(MIMICS)))], rng.uniform(0.1, 1.0), rng.uniform()
        startled = any(s * SEGMENT_S <= o < (s + 1) * SEGMENT_S for o in startles)
        if draw < rate and not label and not startled:
            out.append((kind, round(float(s * SEGMENT_S + min(start, SEGMENT_S - MIMIC_SECONDS[kind] - 0.1)), 3)))
    return tuple(out)


def recorded_config(folder: str | os.PathLike) -> SynthConfig:
    """The configuration that drew the cohort in ``folder``, from its ``synth.json``; ``plan_cohort`` of it gives
    back every plan. An ``InputError`` names a folder that ``synth`` did not write."""
    path = Path(folder) / "synth.json"
    if not path.is_file():
        raise InputError(path, "is missing", "give a folder written by `spasmscope synth`")
    recorded = json.loads(path.read_text())["config"]
    names = {f.name for f in dataclasses.fields(SynthConfig)}
    return SynthConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items() if k in names})


def scene_and_timeline(plan: VideoPlan) -> tuple[Scene, Timeline]:
    """The scene and timeline that draw ``plan``'s video, frame by frame (``Scene.render``), as ``render_video``
    encodes it: the timeline's frames are at the recording's own rate."""
    rng = np.random.default_rng(plan.seed)
    scene = renderer(plan.renderer)(plan.look, plan.rec, rng)
    timeline = make_timeline(rng, plan.look, plan.rec, plan.duration, list(plan.spasms), list(plan.confounders), plan.startles, plan.mimics)
    timeline.hide(list(plan.absent))
    timeline.hide(list(plan.dark), light=0.04)
    return scene, timeline


def render_video(plan: VideoPlan, out: Path) -> None:
    """Draw and encode one planned video to ``out/plan.folder/plan.name`` (atomically)."""
    from spasmscope.data.writer import VideoWriter

    rec = plan.rec
    scene, timeline = scene_and_timeline(plan)
    coded_w, coded_h = (rec.height, rec.width) if rec.rotation in (90, 270) else (rec.width, rec.height)
    with atomic.atomic_path(out / plan.folder / plan.name) as tmp:
        with VideoWriter(tmp, coded_w, coded_h, fps=rec.fps, bitrate=rec.bitrate, rotation=rec.rotation, gop=int(2 * float(rec.fps)), preset="ultrafast") as writer:
            for k in range(len(timeline.t)):
                frame = scene.render(timeline, k)
                # Store as a phone would: coded frames turned back, the display matrix turns them upright.
                writer.write(np.rot90(frame, -(rec.rotation // 90)) if rec.rotation else frame)


def segment_frames(timeline: Timeline, start: float, end: float) -> np.ndarray:
    """int ``[T]``: the timeline frame a decoder shows at each of the segment ``[start, end)`` seconds' 30-fps times
    (``read_segment``: the last frame at or before each time)."""
    from spasmscope.data.video import segment_times

    # A frame's time is its index over the recording's rate, as the encoder stamps it.
    return np.clip(np.searchsorted(timeline.t, segment_times(start, end) + 1e-9, side="right") - 1, 0, len(timeline.t) - 1)


def drawn_segment(scene: Scene, timeline: Timeline, start: float, end: float, size: tuple[int, int]) -> np.ndarray:
    """The frames a decoder gives for the segment ``[start, end)`` seconds of a planned video (``read_segment``:
    30 fps, each the last frame at or before its time, upright, ``size`` = (width, height) with an area filter),
    drawn straight from the scene, without the codec: ``[T, H, W, 3] uint8``."""
    import cv2

    shown = segment_frames(timeline, start, end)
    frames = {k: cv2.resize(scene.render(timeline, k), size, interpolation=cv2.INTER_AREA) for k in map(int, np.unique(shown))}
    return np.stack([frames[int(k)] for k in shown])


def infant_boxes(plan: VideoPlan, every_s: float = 0.5) -> list[tuple[float, float, float, float, float]]:
    """The infant's box ``(time, x, y, w, h)`` (seconds, upright pixels) every ``every_s`` seconds."""
    return _boxes(plan, *scene_and_timeline(plan), every_s)


def _boxes(plan: VideoPlan, scene: Scene, timeline: Timeline, every_s: float) -> list[tuple[float, float, float, float, float]]:
    step = max(1, int(round(float(plan.rec.fps) * every_s)))
    shown = range(0, len(timeline.t), step)
    return [(float(timeline.t[k]), *scene.box(timeline, k)) for k in shown if timeline.present is None or timeline.present[k]]


def _render_job(args: tuple[VideoPlan, str]) -> None:
    plan, out = args
    render_video(plan, Path(out))


def generate(
    cfg: SynthConfig,
    out: str | os.PathLike,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write a synthetic cohort to ``out`` (see the module docstring); returns the manifest's path.

    Videos render on ``workers`` processes (default: all cores) of the pool that ``prepare`` uses; ``progress``
    counts videos (stage ``synth videos``). Videos written by an earlier run are kept.
    """
    import pandas as pd

    out = Path(out)
    record = {"version": __version__, "config": dataclasses.asdict(cfg)}
    record_path = out / "synth.json"
    if record_path.exists():
        old = json.loads(record_path.read_text())
        if old.get("config") != json.loads(json.dumps(record["config"])):
            raise InputError(out, "already holds a different synthetic cohort", "choose an empty folder or delete this one")
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_json(record_path, record)

    plans = plan_cohort(cfg)
    todo = [p for p in plans if not (out / p.folder / p.name).exists()]
    advance = counter(progress, "synth videos", len(plans), len(plans) - len(todo))

    def on_done(_job, _result, error: BaseException | None) -> None:
        if error is not None:
            raise error
        advance()

    run_jobs(_render_job, [(p, str(out)) for p in todo], workers or default_workers(), on_done)

    rows, events, positions, movements = [], [], [], []
    for p in plans:
        video = f"{p.folder}/{p.name}"
        scene, timeline = scene_and_timeline(p)
        extra = {"view": "wide" if p.rec.wide else "close", "recorded_night": int(p.rec.night), **dict(p.meta)}
        for s, label in enumerate(p.labels):
            startled = {"startle": int(any(s * SEGMENT_S <= o < (s + 1) * SEGMENT_S for o in p.startles))} if cfg.startle_rate > 0 else {}
            if cfg.mimic_rate > 0:
                startled["mimic"] = next((k for k, o in p.mimics if s * SEGMENT_S <= o < (s + 1) * SEGMENT_S), "")
            rows.append({"video": video, "child": p.child, "start": s * SEGMENT_S, "end": (s + 1) * SEGMENT_S, "label": label, "cohort": p.cohort, **extra, **startled})
        for sp in p.spasms:
            events.append({"video": video, "onset": round(sp.onset, 3), "offset": round(sp.offset, 3), "child": p.child})
        for t, x, y, w, h in _boxes(p, scene, timeline, 0.5):
            positions.append({"video": video, "time": round(t, 3), "x": round(x, 1), "y": round(y, 1), "w": round(w, 1), "h": round(h, 1)})
        movements += [{"video": video, "kind": kind, "onset": a, "offset": b} for kind, a, b in timeline.movements]
    manifest = out / "manifest.csv"
    atomic.write_csv(manifest, pd.DataFrame(rows))
    atomic.write_csv(out / "events.csv", pd.DataFrame(events, columns=["video", "onset", "offset", "child"]))
    atomic.write_csv(out / "positions.csv", pd.DataFrame(positions, columns=["video", "time", "x", "y", "w", "h"]))
    atomic.write_csv(out / "movements.csv", pd.DataFrame(movements, columns=["video", "kind", "onset", "offset"]))
    gaps = [{"video": f"{p.folder}/{p.name}", "start": a, "end": b, "kind": kind} for p in plans for kind, spans in (("absent", p.absent), ("dark", p.dark)) for a, b in spans]
    atomic.write_csv(out / "gaps.csv", pd.DataFrame(gaps, columns=["video", "start", "end", "kind"]))
    return manifest
