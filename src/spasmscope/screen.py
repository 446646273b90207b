"""Screening whole recordings (METHOD §6 event level, §7, §8): 5-s windows every ``hop`` seconds, the infant
found and cropped, a quality gate, the model's score, and the detections a clinician should review.

One pass over each file: frames are decoded in order at a working size (no seeking), windows are cut from a
ring buffer of the last five seconds, so memory does not grow with the recording's length. Decoding,
localisation and preprocessing run in a producer thread (PyAV, OpenCV and torch release the interpreter
lock while they work) while the model scores the previous batch.

A window is ``valid=0`` with its ``reason`` when it cannot be read (the file ends or breaks before it), is
too dark, has its lighting switched (its mean grey level jumps between sampled instants: a sudden change of the
whole picture is no spasm, yet drove the most confident false alarms of a 60-minute video-EEG recording), or
shows no infant (visibility below the limit); it is not scored, and counts as deficiency time.

Outputs of ``screen`` under ``--out``: ``windows.csv``, ``events.csv``, ``timelines/*.png``, ``report.html``,
and ``recordings/*/windows.csv`` per finished recording, so an interrupted run resumes at the first
recording it had not finished.
"""

from __future__ import annotations

import ctypes
import hashlib
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from spasmscope import __version__, atomic
from spasmscope.characteristics import light_change, visual
from spasmscope.config import RunConfig
from spasmscope.errors import InputError, VideoError
from spasmscope.events import WINDOW_S, detections, window_spans
from spasmscope.hiera import Hiera
from spasmscope.localise import (
    CROP_VERSION,
    Box,
    LocaliseConfig,
    Localiser,
    MotionLocaliser,
    OnnxDetector,
)
from spasmscope.preprocess import ClipConfig, clip_taps, crop_clip, working_size
from spasmscope.train import device, score_clips
from spasmscope.video import DecodeStats, VideoInfo, iter_frames, probe, segment_times

WINDOW_COLUMNS = ["video", "start", "end", "score", "valid", "reason", "visibility", "crop_x", "crop_y", "crop_w", "crop_h",
                  "width", "height", "fps", "bitrate", "brightness", "night_stat", "night", "motion", "sharpness"]  # fmt: skip
FRAMES_AHEAD = 32  # decoded frames queued for the window assembler (~11 MB at the 456 x 256 working size)
VIEWS = ("model", "one", "flips")
CHARACTERISTIC_PAIRS = 4  # frame pairs per window for brightness, night, motion, sharpness


@dataclass(frozen=True)
class ScreenConfig:
    """How recordings are screened; part of a screening run's identity (``screen.json``)."""

    hop: float = 2.5  # seconds between window starts (windows are 5 s)
    threshold: float = 0.5  # a valid window scoring at or above it is positive
    merge_gap: float = 0.0  # seconds: positive windows this close form one detection
    crop: str = "auto"  # auto (find the infant) | none (whole frame) | "x,y,w,h" (fixed, upright pixels)
    detector: str = ""  # path of a YOLO-style .onnx person detector for crop=auto; empty: the built-in motion localiser
    min_visibility: float = 0.3  # below: "no infant in view", not scored
    dark_level: float = 20.0  # mean grey level (0-255) below which a window is too dark to score
    light_change: float = 0.3  # a window whose mean grey level jumps by more than this share is not scored
    batch_size: int = 16  # windows per forward pass
    views: str = "model"  # model: as the model scores (its [train] test_flips) | one | flips (four flipped views, ~1.3x time)
    localise: LocaliseConfig = field(default_factory=LocaliseConfig)

    def __post_init__(self) -> None:
        if not 0 < self.hop <= WINDOW_S:
            raise ValueError(f"hop={self.hop}; windows are {WINDOW_S:g} s, so the hop must be in (0, {WINDOW_S:g}] s")
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold={self.threshold}; a probability threshold must be strictly between 0 and 1")
        if self.crop not in ("auto", "none"):
            fixed_box(self.crop)
        if not 0 < self.light_change <= 1:
            raise ValueError(f"light_change={self.light_change}; a share of the mean grey level, in (0, 1] (1: never)")
        if self.views not in VIEWS:
            raise ValueError(f"views={self.views!r}; use one of {', '.join(VIEWS)}")

    def flips(self, run: RunConfig) -> bool:
        """Whether windows are scored in the four flipped views (``train.score_clips``)."""
        return run.train.test_flips if self.views == "model" else self.views == "flips"

    def as_dict(self) -> dict:
        return asdict(self)


def fixed_box(text: str) -> Box:
    """``"x,y,w,h"`` -> a box; ``ValueError`` naming the value otherwise."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"crop={text!r}; give auto, none or x,y,w,h in pixels of the upright frame, e.g. 100,50,400,400") from None
    if x < 0 or y < 0 or w < 8 or h < 8:
        raise ValueError(f"crop={text!r}; x and y must be >= 0 and the box at least 8 x 8 pixels")
    return x, y, w, h


@dataclass
class Window:
    """One window on its way from the decoder to the table: its row, and its clip when it is to be scored."""

    row: dict
    clip: np.ndarray | None  # uint8 [K, T, S, S, 3]


def _scaled_box(box: Box, sx: float, sy: float, width: int, height: int) -> Box:
    """A box in working pixels -> upright pixels of the file (or back, with the inverse scales), inside the frame."""
    x, y, w, h = box
    x0, y0 = max(0, int(round(x * sx))), max(0, int(round(y * sy)))
    return x0, y0, min(width - x0, int(round(w * sx))), min(height - y0, int(round(h * sy)))


def stand_ins(n_frames: int, clip: ClipConfig, localiser: Localiser | None) -> np.ndarray:
    """For each of a window's ``n_frames`` frames, the index of the frame decoded in its place: itself when the
    clip, the localiser or the characteristics read it, otherwise the next frame that is read."""
    pairs = characteristic_pairs(n_frames)
    read = [clip_taps(n_frames, clip), pairs, pairs + 1]
    if localiser is not None:
        read.append(localiser.frames_read(n_frames, 30.0))
    read_idx = np.unique(np.concatenate(read))
    return read_idx[np.minimum(np.searchsorted(read_idx, np.arange(n_frames)), len(read_idx) - 1)]


def characteristic_pairs(n_frames: int) -> np.ndarray:
    """First frames of the pairs a window's characteristics are measured on (each with the next frame)."""
    return np.linspace(0, n_frames - 2, CHARACTERISTIC_PAIRS).astype(int)


def windows_of(path: str, info: VideoInfo, cfg: ScreenConfig, clip: ClipConfig, localiser: Localiser | None) -> Iterator[Window]:
    """Every window of a recording, in order, each with its row (quality, visibility, crop, characteristics)
    and, when valid, its clip. Decodes the file once, front to back; holds at most one window of frames."""
    spans = window_spans(info.duration, WINDOW_S, cfg.hop)
    # Converting a decoded frame to RGB costs far more than decoding it, and of a window's 150 frames only about
    # half are looked at (the localiser's, the clip's interpolation taps, the characteristic pairs): ask for
    # those, and stand each unread frame in with a read one (it weighs nothing in any of them).
    segments = [segment_times(a, b) for a, b in spans]
    stand = {n: stand_ins(n, clip, localiser) for n in {len(ts) for ts in segments}}  # one per window length
    times = [ts[stand[len(ts)]] for ts in segments]
    stream_times = np.unique(np.concatenate(times))
    index = {t: i for i, t in enumerate(stream_times)}
    wanted = [np.array([index[t] for t in ts]) for ts in times]
    # A window's frames go into one array kept for the whole recording, and only the positions that are read
    # are filled: a new 150-frame array per window cost as much as the localiser (allocation and copying).
    # The other positions hold frames of earlier windows, which weigh nothing, as the stand-ins did.
    read = {n: np.flatnonzero(s == np.arange(n)) for n, s in stand.items()}
    window: np.ndarray | None = None
    ww, wh = working_size(info.width, info.height, clip)
    sx, sy = info.width / ww, info.height / wh
    fixed = None if cfg.crop in ("auto", "none") else _scaled_box(fixed_box(cfg.crop), 1 / sx, 1 / sy, ww, wh)
    base = {"video": info.path, "width": info.width, "height": info.height, "fps": round(info.fps, 3), "bitrate": info.bitrate}
    stats = DecodeStats()
    buffer: dict[int, np.ndarray] = {}
    k = 0
    broken = ""

    def finish(k: int) -> Window:
        nonlocal window
        start, end = (float(v) for v in spans[k])
        row = {**base, "start": round(start, 3), "end": round(end, 3), "score": np.nan}
        if broken or stats.last_time < end - 1.0:
            # The decoder holds the last frame past a file's end; a window mostly after it shows nothing new.
            reason = broken or f"unreadable: the file ends at {max(stats.last_time, 0):.1f} s"
            return Window({**row, "valid": 0, "reason": reason, "visibility": np.nan, **_crop_fields(None)}, None)
        n = len(wanted[k])
        if window is None or len(window) != n:
            window = np.zeros((n, wh, ww, 3), dtype=np.uint8)
        for r in read[n]:
            window[r] = buffer[wanted[k][r]]
        frames = window
        pairs = characteristic_pairs(len(frames))
        v = visual(frames[pairs], frames[pairs + 1])
        found = localiser.update(frames, 30.0) if localiser is not None else None
        crop = fixed if fixed is not None else (found.crop if found is not None and cfg.crop == "auto" else (0, 0, ww, wh))
        visibility = found.visibility if found is not None else 1.0
        reason = (
            "too dark" if v.brightness < cfg.dark_level
            else "lighting changed" if light_change(frames[pairs]) > cfg.light_change
            else "no infant in view" if visibility < cfg.min_visibility
            else ""
        )  # fmt: skip
        row.update(valid=int(not reason), reason=reason, visibility=round(visibility, 4), **_crop_fields(_scaled_box(crop, sx, sy, info.width, info.height)))
        row.update(brightness=round(v.brightness, 3), night_stat=round(v.night_stat, 3), night=int(v.night), motion=round(v.motion, 4), sharpness=round(v.sharpness, 3))
        return Window(row, None if reason else crop_clip(frames, crop, clip))

    # Decoding runs a frame-queue ahead on its own thread, beside the localiser (see in_background).
    frames_in = in_background(iter_frames(info.path, stream_times, size=(ww, wh), stats=stats), depth=FRAMES_AHEAD)
    try:
        for i, frame in frames_in:
            buffer[i] = frame
            while k < len(spans) and i >= wanted[k][-1]:
                yield finish(k)
                k += 1
                first = wanted[k][0] if k < len(spans) else i + 1
                for j in [j for j in buffer if j < first]:
                    del buffer[j]
    except VideoError as e:
        broken = f"unreadable: {e.problem}"
    finally:
        frames_in.close()
    while k < len(spans):
        yield finish(k)
        k += 1


def _crop_fields(box: Box | None) -> dict:
    x, y, w, h = box if box is not None else (np.nan,) * 4
    return {"crop_x": x, "crop_y": y, "crop_w": w, "crop_h": h}


def make_localiser(cfg: ScreenConfig) -> Localiser:
    return OnnxDetector(cfg.detector, cfg.localise) if cfg.detector else MotionLocaliser(cfg.localise)


_DONE = object()  # ends a background iterator's queue


def _produce(items: Iterator, out: queue.Queue, stop: threading.Event) -> None:
    try:
        for item in items:
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.2)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        out.put(_DONE)
    except BaseException as e:  # handed to the consumer, which raises it
        out.put(_Failed(e))


@dataclass(frozen=True)
class _Failed:
    error: BaseException


def in_background(items: Iterator, depth: int) -> Iterator:
    """``items``, computed on a thread of its own up to ``depth`` items ahead of the caller; its exceptions are
    raised here. Decoding (FFmpeg), OpenCV, NumPy's sorts and torch release the GIL, so on two cores the stages
    run side by side where one thread would run them in turn. Closing the returned iterator stops the thread."""
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    worker = threading.Thread(target=_produce, args=(items, handoff, stop), daemon=True)
    worker.start()
    try:
        while (item := handoff.get()) is not _DONE:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def map_frame_buffers() -> None:
    """Make glibc map every allocation of 128 KiB or more and unmap it when freed. By default glibc raises that
    threshold after the first large free and serves later frame buffers from its heap, which fragments and stays
    at its peak: screening an hour then needed 20-40% more memory than a minute. No-op where libc is not glibc."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):
        pass


@torch.no_grad()
def screen_video(model: Hiera, run: RunConfig, path: str, cfg: ScreenConfig, progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Screen one recording: one row per window (``WINDOW_COLUMNS``), scores for the valid ones.

    ``progress(n)`` is called with the number of windows finished. Raises ``VideoError`` when the file cannot be
    opened at all; a file that breaks later gets its remaining windows marked unreadable.
    """
    map_frame_buffers()
    info = probe(path)
    model.to(device()).eval()
    items = in_background(windows_of(info.path, info, cfg, run.clip, make_localiser(cfg)), depth=2 * cfg.batch_size)
    rows: list[dict] = []
    pending: list[Window] = []

    def score(batch: list[Window]) -> None:
        clips = [w.clip for w in batch]
        counts = [len(c) for c in clips]
        p = score_clips(model, np.concatenate(clips), cfg.flips(run))
        for w, chunk in zip(batch, np.split(p, np.cumsum(counts)[:-1]), strict=True):
            w.row["score"] = round(float(chunk.mean()), 6)

    def flush() -> None:
        score(pending)
        if progress is not None:
            progress(len(pending))
        pending.clear()

    try:
        for item in items:
            rows.append(item.row)
            if item.clip is not None:
                pending.append(item)
            elif progress is not None:
                progress(1)
            if len(pending) >= cfg.batch_size:
                flush()
        if pending:
            flush()
    finally:
        items.close()
    return pd.DataFrame(rows, columns=WINDOW_COLUMNS)


# --- a screening run over several recordings ---------------------------------------------------------


def read_windows(path: Path) -> pd.DataFrame:
    """A ``windows.csv`` of a screening run, as it was written (empty ``reason`` for valid windows)."""
    if not Path(path).is_file():
        raise InputError(path, "windows file not found", "give the windows.csv that `spasmscope screen` wrote")
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    missing = [c for c in ("video", "start", "end", "score", "valid") if c not in table.columns]
    if missing:
        raise InputError(path, f"has no column {', '.join(missing)}", "give the windows.csv that `spasmscope screen` wrote")
    if "reason" in table.columns:
        table["reason"] = table["reason"].fillna("")
    return table


def recording_key(path: str, cfg: ScreenConfig, model_sha: str) -> str:
    """Folder name of a recording's finished windows: its name and a digest of its content, the settings and
    the model, so a changed file or setting is screened again."""
    from spasmscope.cache import file_digest

    h = hashlib.blake2b(digest_size=8)
    h.update(f"{file_digest(path)}|{cfg.as_dict()}|{model_sha}|crop {CROP_VERSION}".encode())
    return f"{Path(path).stem[:40]}-{h.hexdigest()}"


@dataclass
class ScreenResult:
    windows: pd.DataFrame  # every window of every readable recording
    events: pd.DataFrame  # detections: video, onset, offset, peak_score, peak_time, first_alarm
    skipped: list[tuple[str, str]]  # (file, reason) of recordings that could not be opened


def screen(model_dir: Path, videos: list[str], out: Path, cfg: ScreenConfig, strict: bool = False, progress=None) -> ScreenResult:
    """Screen ``videos`` with the model in ``model_dir``; writes the outputs listed in the module docstring and
    returns them. A recording finished by an earlier run with the same settings and model is read back.
    ``progress(total, done)`` returns a context manager yielding ``advance(n)`` (windows)."""
    from spasmscope.weights import MODEL_FILE, load_model, sha256

    model, run, _ = load_model(model_dir)
    model_sha = sha256(Path(model_dir) / MODEL_FILE)
    infos, skipped = {}, []
    for path in videos:
        try:
            infos[path] = probe(path)
        except VideoError as e:
            if strict:
                raise
            skipped.append((path, str(e)))
    if not infos:
        raise InputError(videos[0] if len(videos) == 1 else None, "no readable recording", "check the files listed above")
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_json(out / "screen.json", {"spasmscope": __version__, "model": str(model_dir), "model_sha256": model_sha, "config": cfg.as_dict(), "videos": videos})
    finished = {p: out / "recordings" / recording_key(p, cfg, model_sha) / "windows.csv" for p in infos}
    counts = {p: len(window_spans(i.duration, WINDOW_S, cfg.hop)) for p, i in infos.items()}
    done = sum(counts[p] for p in infos if finished[p].exists())
    parts = []
    with progress(sum(counts.values()), done) if progress else nullcontext(lambda n=1: None) as advance:
        for path in infos:
            if finished[path].exists():
                parts.append(read_windows(finished[path]))
                continue
            table = screen_video(model, run, path, cfg, advance)
            atomic.write_csv(finished[path], table)  # a recording is finished once this file exists
            parts.append(table)
    windows = pd.concat(parts, ignore_index=True)
    found = [detections(g, cfg.threshold, cfg.merge_gap).assign(video=v) for v, g in windows.groupby("video", sort=False)]
    events = pd.concat(found, ignore_index=True)[["video", "onset", "offset", "peak_score", "peak_time", "first_alarm"]]
    atomic.write_csv(out / "windows.csv", windows)
    atomic.write_csv(out / "events.csv", events)
    return ScreenResult(windows, events, skipped)
