"""Short H.264 clips of a moment, for recordings a browser cannot play (HEVC, MJPEG in AVI, WMV, MPEG-2, rotated
files): decoded where all video is decoded (``data.video``) and written once into the run's ``review-clips``."""

from __future__ import annotations

from pathlib import Path

from spasmscope import atomic
from spasmscope.data.video import probe, read_segment
from spasmscope.data.writer import VideoWriter

PLAYABLE_CODECS = {"h264", "vp8", "vp9", "av1"}
PLAYABLE_SUFFIXES = {".mp4", ".m4v", ".webm"}
CLIP_FPS = 30


def playable(video: str) -> bool:
    """Whether a browser plays the file as it is: H.264, VP8/9 or AV1 in MP4 or WebM, stored upright, square pixels."""
    info = probe(video)
    coded_w = info.height if info.rotation in (90, 270) else info.width
    return info.codec in PLAYABLE_CODECS and Path(video).suffix.lower() in PLAYABLE_SUFFIXES and info.rotation == 0 and coded_w == info.width


def clip(video: str, start: float, end: float, folder: Path) -> Path:
    """The moment ``[start, end)`` seconds of ``video`` as an upright H.264 MP4 at 30 fps, made once and kept under
    ``folder``."""
    path = folder / f"{Path(video).stem[:40]}-{start:.2f}-{end:.2f}.mp4"
    if path.is_file():
        return path
    frames = read_segment(video, start, end)
    h, w = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
    with atomic.atomic_path(path) as tmp, VideoWriter(tmp, w, h, fps=CLIP_FPS, crf=20) as writer:
        for frame in frames:
            writer.write(frame[:h, :w])
    return path
