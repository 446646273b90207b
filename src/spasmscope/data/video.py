"""Video input: the only module that decodes video (PyAV, FFmpeg inside); ``writer`` encodes.

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
from pathlib import Path

import numpy as np

from spasmscope.errors import VideoError

TARGET_FPS = 30.0  # METHOD §2: every segment is resampled to 30 fps
# Re-seek instead of decoding forward when the next wanted time is this far ahead (seconds): phone and camera files
# put a keyframe every 1-10 s, so decoding forward up to about one keyframe interval costs less than a seek.
SEEK_AHEAD_S = 4.0
# Timestamp comparisons allow this slack (seconds) so float rounding of e.g. 29.97 fps timestamps cannot select the
# previous frame; a container that stores coarse times (Matroska and WebM: milliseconds) gets half its unit.
_EPS = 1e-4


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` reads from a video file: its headers, its first frame, and the video stream's packets."""

    path: str
    codec: str  # decoder name, e.g. "h264", "hevc"
    width: int  # pixels as displayed: upright (after rotation) and with the sample aspect ratio applied
    height: int  # pixels as displayed, upright
    rotation: int  # degrees counter-clockwise applied to decoded frames to make them upright: 0/90/180/270
    fps: float  # average frame rate, frames per second (variable-rate files: frames / duration)
    duration: float  # seconds of picture: the video stream's first shown frame to its last frame's end
    bitrate: int  # bits per second over the whole file (0 when unknown)
    frame_count: int  # frames in the video stream, counted from its packets
    variable_frame_rate: bool = field(default=False)  # average and nominal rates differ
    file_duration: float = 0.0  # seconds from the first frame to the end of the last packet of any stream (audio can run on)
    claimed_duration: float = 0.0  # seconds the container's header claims, where it claims more than the file holds
    interlaced: bool = False  # the frames are interlaced fields; they are deinterlaced when read
    complete: bool = True  # False: the file ends inside a packet (cut short, or still being written)


@dataclass
class DecodeStats:
    """Counts of decoder work, for tests and benchmarks that check seeking behaviour."""

    decoded: int = 0  # frames that came out of the decoder
    seeks: int = 0
    last_time: float = float("-inf")  # seconds: the latest frame decoded so far (where a truncated file ends)
    damaged: int = 0  # packets the decoder refused (damage inside the file); decoding went on after each
    gaps: list[tuple[float, float]] = field(default_factory=list)  # seconds (from, to) with no frame: frames lost


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


FIRST_PACKETS = 32  # packets looked at for the first shown frame: more than any encoder reorders


def _stream_start(container, stream) -> float:
    """Presentation time of the stream's first shown frame, seconds in the file's clock: time 0 in spasmscope. The
    earliest time among the first packets that are shown (an edit list's dropped packets are not), since reordered
    frames (B-frames) make the first packet's time, and with it a header's start time, a frame or more late in some
    formats (AVI). Reads a few packets: the caller seeks before decoding."""
    import av

    earliest = None
    try:
        for n, packet in enumerate(container.demux(stream)):
            ts = packet.pts if packet.pts is not None else packet.dts
            if packet.size and not packet.is_discard and ts is not None:
                earliest = ts if earliest is None else min(earliest, ts)
            if n >= FIRST_PACKETS:
                break
    except av.error.FFmpegError:
        pass
    if earliest is None:
        return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    return float(earliest * stream.time_base)


def _first_frame(container, stream, path: Path):
    import av

    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as e:
        raise VideoError(path, f"video cannot be decoded ({e})", "re-export the file; it may be damaged") from None
    raise VideoError(path, "video stream has no frames; the file may be truncated", "re-copy or re-export the file")


@dataclass(frozen=True)
class _Span:
    """What a file's packets say, without decoding; seconds in the file's own clock."""

    first: float | None  # the video stream's earliest shown time (None: no packet carries a time)
    end: float | None  # its latest time plus one frame's length
    frames: int  # its packets, each a frame
    file_end: float | None  # the latest end of a packet of any stream (an audio track can run on)
    complete: bool  # False: the file ends inside a packet
    timed: bool = True  # False: no packet carries a time, so the frames are timed at the codec's rate


FULL_SCAN_BYTES = 256 << 20  # files up to this size have every packet read; larger ones only their end
INDEXED_FORMATS = ("mov", "mp4")  # containers whose header indexes every frame (MP4, MOV, M4V, 3GP)


def _packet_span(path: Path) -> _Span:
    """The streams' spans, as cheaply as they can be known for sure. MP4 and MOV index every frame in their header
    (which a readable file has whole), so the header says it. Elsewhere the packets do: every packet of a file up to
    ``FULL_SCAN_BYTES``; of a larger one the first packets and those from the last keyframe on (an hour of
    video-EEG is not read through to be probed), its frames then counted from its span and rate."""
    container, stream = _open(path)
    with container:
        if any(name in INDEXED_FORMATS for name in container.format.name.split(",")) and stream.duration and stream.frames:
            return _header_span(container, stream)
        if path.stat().st_size <= FULL_SCAN_BYTES:
            return _scan(container, stream)
        first = _stream_start(container, stream)
        tail = container.duration / 1_000_000 if container.duration else 0.0
        container.seek(int(max(tail - 5.0, 0.0) * 1_000_000), backward=True)  # microseconds, the container's clock
        span = _scan(container, stream)
        rate = float(stream.average_rate or stream.base_rate or stream.guessed_rate or 0.0)
        frames = int(round((span.end - first) * rate)) if span.end is not None and rate else span.frames
        return _Span(first, span.end, frames, span.file_end, span.complete)


def _header_span(container, stream) -> _Span:
    first = _stream_start(container, stream)
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else first
    end = start + float(stream.duration * stream.time_base)
    ends = [float(((s.start_time or 0) + s.duration) * s.time_base) for s in container.streams if s.type in ("video", "audio") and s.duration]
    return _Span(first, end, int(stream.frames), max([end, *ends]), True)


def _scan(container, stream) -> _Span:
    """Every packet from the container's position on. Packets that an edit list drops are not counted; a packet with
    no time of its own takes its decoding time (AVI)."""
    import av

    first = last = file_end = None
    frames, complete, length = 0, True, 0.0
    rate = stream.average_rate or stream.base_rate or stream.guessed_rate
    try:
        for packet in container.demux():
            ts = packet.pts if packet.pts is not None else packet.dts
            if packet.size == 0 or packet.is_discard or packet.stream.type not in ("video", "audio"):
                continue
            if packet.stream is not stream:
                if ts is not None:
                    end = float((ts + (packet.duration or 0)) * packet.stream.time_base)
                    file_end = end if file_end is None else max(file_end, end)
                continue
            frames += 1
            if ts is None:
                continue
            t = float(ts * stream.time_base)
            first = t if first is None else min(first, t)
            last = t if last is None else max(last, t)
            # The length of the last packet in decoding order is the last frame's: reordered packets carry the
            # spacing of their decoding times, which is what MP4's own stream duration adds up.
            length = float(packet.duration * stream.time_base) if packet.duration else (1 / float(rate) if rate else 0.0)
    except av.error.FFmpegError:
        complete = False
    timed = last is not None
    untimed = _untimed_rate(stream)
    if not timed and frames and untimed:  # no packet carries a time (a raw elementary stream): frames at the codec's rate
        first, last, length = 0.0, (frames - 1) / untimed, 1 / untimed
    end = None if last is None else last + length
    return _Span(first, end, frames, end if file_end is None or end is None else max(file_end, end), complete, timed)


def picture_note(info: VideoInfo) -> str:
    """What a user should know about how much of the file has a picture: empty when the picture spans the file."""
    if not info.complete:
        return f"the file ends inside a packet (cut short, or still being written); read to {info.duration:.1f} s of picture"
    if info.file_duration > info.duration + 0.5:
        return f"the picture ends at {info.duration:.1f} s but the file runs {info.file_duration:.1f} s (a longer audio track); the rest has no picture"
    if info.claimed_duration > info.file_duration + 0.5:
        return f"the header claims {info.claimed_duration:.1f} s but the file holds {info.duration:.1f} s of picture (cut short, or still being written)"
    return ""


def _untimed_rate(stream) -> float:
    """Frames per second of a stream whose packets carry no time: the rate the codec itself signals (H.264's timing
    information), as FFmpeg's decoder times such frames; else the demuxer's guess."""
    rate = stream.codec_context.framerate or stream.guessed_rate or stream.average_rate
    return float(rate) if rate else 0.0


def display_size(coded_width: int, coded_height: int, rotation: int, sample_aspect: float) -> tuple[int, int]:
    """Upright ``(width, height)`` as a viewer sees a frame: the sample aspect ratio widens (or narrows) each
    coded row, as FFmpeg's players do, then a quarter turn swaps the sides."""
    width = int(round(coded_width * sample_aspect)) if sample_aspect > 0 else coded_width
    return (coded_height, width) if rotation in (90, 270) else (width, coded_height)


def _sample_aspect(stream) -> float:
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    return float(sar) if sar else 1.0


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a video's properties: the headers, the first frame (rotation, size, interlacing, a readability check)
    and the video stream's packets (its duration and frame count), decoding one frame only.

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
        width, height = display_size(first.width, first.height, rotation, _sample_aspect(stream))
        header = container.duration / 1_000_000 if container.duration else 0.0  # microseconds
        nominal = stream.base_rate or stream.guessed_rate
        average = float(stream.average_rate or 0.0)
        codec, bitrate, interlaced = stream.codec_context.name, int(container.bit_rate or 0), bool(first.interlaced_frame)
    span = _packet_span(path)
    origin = span.first or 0.0
    duration = max(0.0, span.end - origin) if span.end is not None else header
    frames, complete = span.frames, span.complete
    file_duration = max(duration, (span.file_end or 0.0) - origin)
    # Some muxers write the duration as the last time in the file's clock, others as a length: the header claims
    # more than the file holds only when it does by either reading.
    claimed = header if header > file_duration + 0.5 and header > (span.file_end or 0.0) + 0.5 else 0.0
    fps = (average if span.timed else 0.0) or (frames / duration if duration > 0 else float(nominal or 0.0))
    vfr = bool(nominal) and abs(float(nominal) - fps) > 0.01 * fps
    return VideoInfo(path=str(path), codec=codec, width=width, height=height, rotation=rotation, fps=fps, duration=duration, bitrate=bitrate,
                     frame_count=frames, variable_frame_rate=vfr, file_duration=file_duration, claimed_duration=claimed, interlaced=interlaced,
                     complete=complete)  # fmt: skip


def _upright(frame, rotation: int, size: tuple[int, int] | None, display: tuple[int, int], reformatter) -> np.ndarray:
    """Decoded frame -> upright RGB ``[H, W, 3] uint8``: of the upright ``size = (width, height)`` asked for, or of
    its ``display`` size (the coded frame's, sample aspect ratio applied, before rotation). ``reformatter`` is one ``VideoReformatter`` per file: it
    keeps its scaler between frames, where ``frame.reformat`` would set one up for every frame (half the cost of a
    conversion)."""
    if size is not None:
        w, h = (size[1], size[0]) if rotation in (90, 270) else size
    else:
        w, h = display
    # AREA averages source pixels, so a large frame shrinks without aliasing; at the coded size FFmpeg's default only
    # converts. One scaler thread: the decoder's threads already fill the cores, and more made conversion slower.
    area = "AREA" if size is not None or (w, h) != (frame.width, frame.height) else None
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


def _decoded(container, stream, stats: DecodeStats) -> Iterator[tuple[object, int]]:
    """``(frame, rotation)`` of ``stream`` from the container's current position, in order, ``rotation`` being the
    display matrix's (degrees counter-clockwise). A packet the decoder refuses (damage in the middle of a file) is
    skipped and counted in ``stats.damaged``, and decoding goes on; interlaced frames come out deinterlaced
    (FFmpeg's ``bwdif``: one frame out per frame in, timestamps kept; a filter drops the display matrix, so the
    rotation is read before it)."""
    import av

    graph, rotation = None, 0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            stats.damaged += 1
            continue
        for frame in frames:
            rotation = int(round(frame.rotation or 0)) % 360
            if frame.interlaced_frame or graph is not None:
                graph = graph or _deinterlacer(stream)
                graph.push(frame)
                yield from ((f, rotation) for f in _drain(graph))
            else:
                yield frame, rotation
    if graph is not None:
        graph.push(None)
        yield from ((f, rotation) for f in _drain(graph))


def _deinterlacer(stream):
    import av

    graph = av.filter.Graph()
    source = graph.add_buffer(template=stream)
    bwdif = graph.add("bwdif", "mode=send_frame:parity=auto:deint=interlaced")
    sink = graph.add("buffersink")
    source.link_to(bwdif)
    bwdif.link_to(sink)
    graph.configure()
    return graph


def _drain(graph) -> Iterator:
    import av

    while True:
        try:
            yield graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return


def iter_frames(
    path: str | os.PathLike,
    times: Sequence[float] | np.ndarray,
    size: tuple[int, int] | None = None,
    stats: DecodeStats | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """``read_frames`` one frame at a time: yields ``(i, frame shown at times[i])`` in order, so a caller can
    walk an hour of video in constant memory. Consecutive indices that show the same source frame get the
    same array object (converted once); do not modify it.

    A frame with no presentation time of its own takes its decoding time (AVI). A stretch whose frames were lost
    to damage shows the last frame before it, and is listed in ``stats.gaps``."""
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
    sample_aspect = _sample_aspect(stream)
    rate = stream.average_rate or stream.base_rate or stream.guessed_rate
    frame_s = 1 / float(rate) if rate else 1 / TARGET_FPS

    def upright(shown: tuple[object, int]) -> np.ndarray:
        nonlocal converted
        frame, rotation = shown
        if converted is None or converted[0] is not frame:
            converted = (frame, _upright(frame, rotation, size, display_size(frame.width, frame.height, 0, sample_aspect), reformatter))
        return converted[1]

    slack = max(_EPS, 0.5 * float(stream.time_base) + 1e-6)
    try:
        t0 = _stream_start(container, stream)
        i = 0  # next output index to fill
        prev = None  # last decoded frame whose time is <= times[i]
        back = 0.0  # seconds before times[i] to seek to, when a seek lands past it
        seekable = True
        try:
            while i < len(times):
                target = times[i] - back
                if seekable:
                    # At or before the first frame, seek to the file's start: a time-based seek to the first frame's own
                    # time can land on the next keyframe in some formats (MPEG program streams).
                    try:
                        container.seek(int((target + t0) / stream.time_base) if target > 0 else 0, stream=stream, backward=True)
                        stats.seeks += 1
                    except av.error.FFmpegError:
                        # A raw elementary stream: read once, front to back, from a fresh start (``_stream_start`` read
                        # its first packets).
                        seekable = False
                        container.close()
                        container, stream = _open(path)
                filled_at_seek = i
                reseek = False
                prev_t, damaged, counted = None, stats.damaged, 0
                for shown in _decoded(container, stream, stats):
                    stats.decoded += 1
                    frame = shown[0]
                    ts = frame.pts if frame.pts is not None else frame.dts
                    counted += 1
                    if ts is None and seekable:
                        continue
                    # A stream without timestamps (a raw elementary stream, read from its start) is timed by frame count.
                    t = (counted - 1) / (_untimed_rate(stream) or TARGET_FPS) if ts is None else float(ts * (frame.time_base or stream.time_base)) - t0
                    if prev_t is None and prev is None and t > times[i] + slack and target > 0 and seekable:
                        # The demuxer's seek landed past the time asked for (MPEG program streams seek to the next
                        # keyframe): go back further, a second, then four times as far each time, then to the start.
                        back, reseek = max(1.0, 4 * back), True
                        break
                    if stats.damaged > damaged and prev_t is not None:
                        stats.gaps.append((prev_t + frame_s, t))  # the refused packets' frames are missing here
                    prev_t, damaged = t, stats.damaged
                    stats.last_time = max(stats.last_time, t)
                    while i < len(times) and t > times[i] + slack:
                        yield i, upright(prev if prev is not None else shown)
                        i += 1
                    if i == len(times):
                        break
                    prev = shown
                    # Re-seek only once this seek has filled a frame: a keyframe interval longer than
                    # SEEK_AHEAD_S would otherwise land on the same keyframe again and again.
                    if times[i] - t > SEEK_AHEAD_S and i > filled_at_seek and seekable:
                        reseek, back = True, 0.0
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
    finally:
        container.close()


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
