"""The windows of a recording, from the file to clips (METHOD §6, §7, §8): 5-s windows every ``hop`` seconds, the
infant found and cropped, and a quality gate; what screening scores and what MAE pretraining learns from.

One pass over each file: frames are decoded in order at a working size (no seeking), windows are cut from a
buffer of the last five seconds, so memory does not grow with the recording's length. Decoding runs on a thread
of its own (``in_background``) beside the localiser.

A window is ``valid=0`` with its ``reason`` when it cannot be read (the file ends or breaks before it), is too
dark, has its lighting switched (its mean grey level jumps between sampled instants: a sudden change of the
whole picture is no spasm, yet drives confident false alarms), or shows no infant (visibility below the
limit); such a window gets no clip.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from spasmscope.data.characteristics import light_change, visual
from spasmscope.data.detector import OnnxDetector
from spasmscope.data.localise import Box, LocaliseConfig, Localiser, MotionLocaliser
from spasmscope.data.preprocess import ClipConfig, clip_taps, crop_clip, working_size
from spasmscope.data.segments import SEGMENT_S, window_spans
from spasmscope.data.video import DecodeStats, VideoInfo, iter_frames, segment_times
from spasmscope.errors import SettingError, VideoError

FRAMES_AHEAD = 32  # decoded frames queued for the window assembler (~11 MB at the 456 x 256 working size)
CHARACTERISTIC_PAIRS = 4  # frame pairs per window for brightness, night, motion, sharpness


@dataclass(frozen=True)
class WindowConfig:
    """How a recording is cut into windows and which windows are fit to score."""

    hop: float = 2.5  # seconds between window starts (windows are SEGMENT_S long)
    crop: str = "auto"  # auto (find the infant) | none (whole frame) | "x,y,w,h" (fixed, upright pixels)
    detector: str = ""  # path of a YOLO-style .onnx person detector for crop=auto; empty: the built-in motion localiser
    min_visibility: float = 0.3  # below: "no infant in view", not scored
    dark_level: float = 20.0  # mean grey level (0-255) below which a window is too dark to score
    light_change: float = 0.3  # a window whose mean grey level jumps by more than this share is not scored
    localise: LocaliseConfig = field(default_factory=LocaliseConfig)

    def __post_init__(self) -> None:
        if not 0 < self.hop <= SEGMENT_S:
            raise SettingError(f"hop={self.hop}", f"windows are {SEGMENT_S:g} s, so the hop must be in (0, {SEGMENT_S:g}] s")
        if self.crop not in ("auto", "none"):
            fixed_box(self.crop)
        if not 0 < self.light_change <= 1:
            raise SettingError(f"light_change={self.light_change}", "a share of the mean grey level, in (0, 1] (1: never)")

    def localiser(self) -> Localiser:
        return OnnxDetector(self.detector, self.localise) if self.detector else MotionLocaliser(self.localise)


def fixed_box(text: str) -> Box:
    """``"x,y,w,h"`` -> a box; ``ValueError`` naming the value otherwise."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise SettingError(f"crop={text!r}", "give auto, none or x,y,w,h in pixels of the upright frame, e.g. 100,50,400,400") from None
    if x < 0 or y < 0 or w < 8 or h < 8:
        raise SettingError(f"crop={text!r}", "x and y must be >= 0 and the box at least 8 x 8 pixels")
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
    read = [clip_taps(n_frames, clip), pairs, np.minimum(pairs + 1, n_frames - 1)]
    if localiser is not None:
        read.append(localiser.frames_read(n_frames, 30.0))
    read_idx = np.unique(np.concatenate(read))
    return read_idx[np.minimum(np.searchsorted(read_idx, np.arange(n_frames)), len(read_idx) - 1)]


def characteristic_pairs(n_frames: int) -> np.ndarray:
    """First frames of the pairs a window's characteristics are measured on (each with the next frame, or itself in
    a window of one frame)."""
    return np.linspace(0, max(n_frames - 2, 0), CHARACTERISTIC_PAIRS).astype(int)


def windows_of(
    path: str, info: VideoInfo, cfg: WindowConfig, clip: ClipConfig, localiser: Localiser | None, first: int = 0, stop: int | None = None,
) -> Iterator[Window]:
    """Every window of a recording, in order, each with its row (quality, visibility, crop, characteristics)
    and, when valid, its clip. Decodes the file once, front to back; holds at most one window of frames.

    ``first`` and ``stop`` limit it to windows ``first..stop-1`` (a chunk of a long recording); the localiser
    then first watches the windows before ``first`` that it would still remember (``Localiser.memory``), so
    it reaches the state of a front-to-back pass (to the ``localise.FORGOTTEN`` share of the past it forgets)."""
    spans = window_spans(info.duration, SEGMENT_S, cfg.hop)
    begin = max(0, first - localiser.memory()) if localiser is not None else first
    spans = spans[begin : len(spans) if stop is None else stop]
    warming = first - begin  # the windows before these only bring the localiser up to date
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

    def finish(k: int) -> Window | None:
        nonlocal window
        start, end = (float(v) for v in spans[k])
        row = {**base, "start": round(start, 3), "end": round(end, 3), "score": np.nan}
        lost = [(a, b) for a, b in stats.gaps if a < end and b > start]
        if broken or stats.last_time < end - 1.0 or lost:
            if k < warming:
                return None
            # The decoder holds the last frame past a file's end, and over frames lost to damage; such a window
            # shows nothing new where it matters.
            reason = broken or (f"unreadable: frames lost from {lost[0][0]:.1f} to {lost[-1][1]:.1f} s (damaged file)" if lost
                                else f"unreadable: the file ends at {max(stats.last_time, 0):.1f} s")  # fmt: skip
            return Window({**row, "valid": 0, "reason": reason, "visibility": np.nan, **_crop_fields(None)}, None)
        n = len(wanted[k])
        if window is None or len(window) != n:
            window = np.zeros((n, wh, ww, 3), dtype=np.uint8)
        for r in read[n]:
            window[r] = buffer[wanted[k][r]]
        frames = window
        if k < warming:
            localiser.update(frames, 30.0)
            return None
        pairs = characteristic_pairs(len(frames))
        v = visual(frames[pairs], frames[np.minimum(pairs + 1, len(frames) - 1)])
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
                if (item := finish(k)) is not None:
                    yield item
                k += 1
                first = wanted[k][0] if k < len(spans) else i + 1
                for j in [j for j in buffer if j < first]:
                    del buffer[j]
    except VideoError as e:
        broken = f"unreadable: {e.problem}"
    finally:
        frames_in.close()
    while k < len(spans):
        if k >= warming:
            yield finish(k)
        k += 1


def _crop_fields(box: Box | None) -> dict:
    x, y, w, h = box if box is not None else (np.nan,) * 4
    return {"crop_x": x, "crop_y": y, "crop_w": w, "crop_h": h}


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
