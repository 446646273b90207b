"""Video input and output: the only module that touches PyAV (FFmpeg).

Conventions used everywhere in spasmscope:
- Times are seconds from the first frame's presentation time (``0`` is the first frame shown).
- Frames are upright: the display matrix of phone videos is applied, so ``width``/``height`` and
  every array are as a viewer sees them.
- Frames are ``uint8`` RGB arrays ``[H, W, 3]``; a clip is ``[T, H, W, 3]``.
- A segment is resampled to a fixed rate by timestamp: output frame ``k`` shows the last source frame
  whose timestamp is at or before ``start + k / fps`` (nearest earlier frame), so variable frame rate
  and any source rate give the same number of frames for the same span.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from spasmscope.errors import VideoError

TARGET_FPS = 30.0  # METHOD §2: every segment is resampled to 30 fps
# Re-seek instead of decoding forward when the next wanted time is this far ahead (seconds). Phone
# and camera files put a keyframe every 1-10 s, so decoding forward up to ~one GOP costs less than a
# seek; beyond that a seek wins.
SEEK_AHEAD_S = 4.0
# Timestamp comparisons allow this slack (seconds) so float rounding of e.g. 29.97 fps timestamps
# cannot select the previous frame.
_EPS = 1e-4


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` reads from a video file's headers and its first frame."""

    path: str
    codec: str  # decoder name, e.g. "h264", "hevc"
    width: int  # pixels, upright (after rotation)
    height: int  # pixels, upright (after rotation)
    rotation: int  # degrees counter-clockwise applied to decoded frames to make them upright: 0/90/180/270
    fps: float  # average frame rate, frames per second (variable-rate files: frames / duration)
    duration: float  # seconds, as the container reports it
    bitrate: int  # bits per second over the whole file (0 when unknown)
    frame_count: int  # frames in the stream; an estimate (duration x fps) when the header has none
    variable_frame_rate: bool = field(default=False)  # average and nominal rates differ


@dataclass
class DecodeStats:
    """Counts of decoder work, for tests and benchmarks that check seeking behaviour."""

    decoded: int = 0  # frames that came out of the decoder
    seeks: int = 0
    last_time: float = float("-inf")  # seconds: the latest frame decoded so far (where a truncated file ends)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoError(path, "file not found", "check the path (manifest paths are relative to the manifest's folder)")
    if path.is_dir():
        raise VideoError(path, "is a folder, not a video file", "give the path of a video file")
    if path.stat().st_size == 0:
        raise VideoError(path, "file is empty (0 bytes)", "copy the video again; the file was not written")


def _open(path: str | os.PathLike):
    """Open a file with PyAV and return ``(container, video_stream)`` or raise ``VideoError``."""
    import av

    path = Path(path)
    _check_file(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as e:
        reason = str(getattr(e, "strerror", "") or e)
        if "moov atom not found" in reason or path.suffix.lower() in {".mp4", ".mov", ".m4v"}:
            problem = f"not a readable video ({reason}); the file may be truncated or not a video"
        else:
            problem = f"not a readable video ({reason})"
        raise VideoError(path, problem, "re-export or re-copy the file as MP4 (H.264)") from None
    if not container.streams.video:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
        container.close()
        raise VideoError(path, f"has no video stream ({kinds})", "give a file that contains video, not audio only")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def _stream_start(stream) -> float:
    """Presentation time of the stream's first frame, seconds (time 0 in spasmscope)."""
    if stream.start_time is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _first_frame(container, stream, path: Path):
    import av

    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as e:
        raise VideoError(path, f"video cannot be decoded ({e})", "re-export the file; it may be damaged") from None
    raise VideoError(path, "video stream has no frames; the file may be truncated", "re-copy or re-export the file")


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a video's properties; decodes only its first frame (for rotation and a readability check).

    Raises ``VideoError`` (one line: file and reason) for a missing, empty, truncated or non-video file
    and for a file without a video stream.
    """
    path = Path(path)
    container, stream = _open(path)
    with container:
        first = _first_frame(container, stream, path)
        rotation = int(round(first.rotation or 0)) % 360
        if rotation % 90:
            raise VideoError(path, f"rotation of {rotation} degrees is not a multiple of 90", "re-export the video upright")
        coded_w, coded_h = first.width, first.height
        width, height = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)

        if container.duration is not None and container.duration > 0:
            duration = container.duration / 1_000_000  # container duration is in microseconds
        elif stream.duration is not None:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = 0.0
        nominal = stream.base_rate or stream.guessed_rate
        fps = float(stream.average_rate or nominal or 0.0)
        frame_count = int(stream.frames) if stream.frames else int(round(duration * fps))
        vfr = bool(nominal) and abs(float(nominal) - fps) > 0.01 * fps
        return VideoInfo(
            path=str(path),
            codec=stream.codec_context.name,
            width=width,
            height=height,
            rotation=rotation,
            fps=fps,
            duration=duration,
            bitrate=int(container.bit_rate or 0),
            frame_count=frame_count,
            variable_frame_rate=vfr,
        )


def _upright(frame, rotation: int, size: tuple[int, int] | None, reformatter) -> np.ndarray:
    """Decoded frame -> upright RGB ``[H, W, 3] uint8``; ``size`` is the upright ``(width, height)`` wanted.
    ``reformatter`` is one ``VideoReformatter`` per file: it keeps its scaler between frames, where
    ``frame.reformat`` would set one up for every frame (half the cost of a conversion)."""
    if size is not None:
        w, h = size
        if rotation in (90, 270):
            w, h = h, w
    else:
        w, h = frame.width, frame.height
    # AREA averages source pixels, so a large frame shrinks without aliasing (unscaled: FFmpeg's default). One
    # scaler thread: the decoder's threads already fill the cores, and more made conversion slower, not faster.
    area = "AREA" if size is not None else None
    array = reformatter.reformat(frame, width=w, height=h, format="rgb24", interpolation=area, threads=1).to_ndarray()
    if rotation:
        array = np.ascontiguousarray(np.rot90(array, k=rotation // 90))
    return array


def read_frames(
    path: str | os.PathLike,
    times: Sequence[float] | np.ndarray,
    size: tuple[int, int] | None = None,
    stats: DecodeStats | None = None,
) -> np.ndarray:
    """Frames shown at ``times`` (seconds, ascending): for each, the last frame at or before it.

    Seeks to the keyframe before the first time, decodes forward, and seeks again when the next time
    is more than ``SEEK_AHEAD_S`` ahead, so reading a few seconds from the middle of an hour-long file
    decodes about one keyframe interval plus the span asked for. A time before the first frame gets the
    first frame; a time after the last frame gets the last frame.

    Returns ``[N, H, W, 3] uint8`` upright RGB; ``size=(width, height)`` scales frames in FFmpeg
    (area filter) to that upright size.
    """
    out: np.ndarray | None = None
    for i, frame in iter_frames(path, times, size, stats):
        if out is None:
            out = np.empty((len(times), *frame.shape), dtype=np.uint8)
        out[i] = frame
    assert out is not None
    return out


def iter_frames(
    path: str | os.PathLike,
    times: Sequence[float] | np.ndarray,
    size: tuple[int, int] | None = None,
    stats: DecodeStats | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """``read_frames`` one frame at a time: yields ``(i, frame shown at times[i])`` in order, so a caller can
    walk an hour of video in constant memory. Consecutive indices that show the same source frame get the
    same array object (converted once); do not modify it."""
    import av
    from av.video.reformatter import VideoReformatter

    path = Path(path)
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or len(times) == 0:
        raise ValueError(f"times must be a non-empty 1-D sequence, got shape {times.shape}")
    if np.any(np.diff(times) < 0):
        raise ValueError("times must be ascending")
    stats = stats if stats is not None else DecodeStats()
    container, stream = _open(path)
    converted: tuple[object, np.ndarray] | None = None  # (frame, its upright array): convert each frame once
    reformatter = VideoReformatter()

    def upright(frame) -> np.ndarray:
        nonlocal converted
        if converted is None or converted[0] is not frame:
            rotation = int(round(frame.rotation or 0)) % 360
            converted = (frame, _upright(frame, rotation, size, reformatter))
        return converted[1]

    with container:
        t0 = _stream_start(stream)
        i = 0  # next output index to fill
        prev = None  # last decoded frame whose time is <= times[i]
        try:
            while i < len(times):
                container.seek(int((times[i] + t0) / stream.time_base), stream=stream, backward=True)
                stats.seeks += 1
                filled_at_seek = i
                reseek = False
                for frame in container.decode(stream):
                    stats.decoded += 1
                    if frame.pts is None:
                        continue
                    t = float(frame.pts * stream.time_base) - t0
                    stats.last_time = max(stats.last_time, t)
                    while i < len(times) and t > times[i] + _EPS:
                        yield i, upright(prev if prev is not None else frame)
                        i += 1
                    if i == len(times):
                        break
                    prev = frame
                    # Re-seek only once this seek has filled a frame: a keyframe interval longer than
                    # SEEK_AHEAD_S would otherwise land on the same keyframe again and again.
                    if times[i] - t > SEEK_AHEAD_S and i > filled_at_seek:
                        reseek = True
                        break
                if not reseek:
                    break
                prev = None
        except av.error.FFmpegError as e:
            raise VideoError(path, f"video cannot be decoded ({e})", "re-export the file; it may be damaged") from None
        if prev is None and i < len(times):
            raise VideoError(path, "video stream has no frames; the file may be truncated", "re-copy or re-export the file")
        while i < len(times):  # past the last frame: hold it
            yield i, upright(prev)
            i += 1


def segment_times(start: float, end: float, fps: float = TARGET_FPS) -> np.ndarray:
    """Output timestamps of a segment resampled to ``fps``: ``start + k / fps`` for k in [0, n).

    ``n = round((end - start) * fps)``, so a 5-s segment has 150 frames at 30 fps.
    """
    n = int(round((end - start) * fps))
    if n <= 0:
        raise ValueError(f"segment [{start}, {end}] s is shorter than one frame at {fps} fps")
    return start + np.arange(n, dtype=np.float64) / fps


def read_segment(
    path: str | os.PathLike,
    start: float,
    end: float,
    size: tuple[int, int] | None = None,
    fps: float = TARGET_FPS,
    stats: DecodeStats | None = None,
) -> np.ndarray:
    """The segment ``[start, end)`` seconds at ``fps`` by timestamp: ``[T, H, W, 3] uint8``, T = (end-start)*fps.

    ``size=(width, height)`` scales frames in FFmpeg; default is the upright native size.
    """
    return read_frames(path, segment_times(start, end, fps), size=size, stats=stats)


class VideoWriter:
    """Write RGB frames to a video file with PyAV (H.264 by default).

    ``fps`` may be a ``Fraction`` (``Fraction(30000, 1001)`` for 29.97). ``rotation`` writes a display
    matrix (degrees counter-clockwise, as phones do): frames are given as stored (coded), and a reader
    that honours the matrix shows them turned by ``rotation``. ``write(frame, t=...)`` with explicit
    times (seconds) makes a variable-frame-rate file.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        width: int,
        height: int,
        fps: float | Fraction = 30,
        codec: str = "libx264",
        bitrate: int | None = None,
        crf: int | None = None,
        preset: str = "veryfast",
        rotation: int = 0,
        gop: int | None = None,
        variable_rate: bool = False,
    ):
        import av

        if width % 2 or height % 2:
            raise ValueError(f"yuv420p needs even width and height, got {width}x{height}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
        self._container = av.open(str(self.path), "w")
        options: dict[str, str] = {}
        if codec in ("libx264", "libx265"):
            options["preset"] = preset
            if crf is not None and bitrate is None:
                options["crf"] = str(crf)
        if codec == "libx265":
            options["x265-params"] = "log-level=error"
        self._stream = self._container.add_stream(codec, rate=rate, options=options)
        self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, "yuv420p"
        if bitrate is not None:
            self._stream.bit_rate = int(bitrate)
        if gop is not None:
            self._stream.codec_context.gop_size = int(gop)
        self._variable = variable_rate
        if variable_rate:
            self._stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            self._stream.set_display_rotation(rotation)
        self._n = 0

    def write(self, frame: np.ndarray, t: float | None = None) -> None:
        """Append one coded ``[H, W, 3] uint8`` RGB frame; ``t`` (seconds) only for variable-rate files."""
        import av

        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        if self._variable:
            if t is None:
                raise ValueError("a variable-rate writer needs t (seconds) for every frame")
            vf.pts = int(round(t * 1000))
            vf.time_base = Fraction(1, 1000)
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self._n += 1

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
