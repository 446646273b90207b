"""Video files of the formats users bring, written with PyAV's FFmpeg, and FFmpeg's own frame-by-frame reading of
them (the independent static build of imageio-ffmpeg) to compare with."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from conftest import ffmpeg_exe, index_frame


@dataclass(frozen=True)
class Case:
    """One file to write: ``n`` index frames (see ``conftest.index_frame``) of ``width x height`` coded pixels."""

    file: str  # name, whose extension picks the container unless ``container`` does
    codec: str
    n: int = 60
    width: int = 160
    height: int = 96
    fps: Fraction = Fraction(30)
    pix_fmt: str = "yuv420p"
    container: str | None = None  # FFmpeg's format name, where the extension says otherwise
    options: dict = field(default_factory=dict)  # encoder options
    context: dict = field(default_factory=dict)  # codec context settings (max_b_frames, ...)
    sample_aspect: Fraction | None = None
    rotation: int = 0  # display matrix, degrees counter-clockwise
    first_pts: int = 0  # in frames: a first timestamp far from 0
    times: tuple[float, ...] | None = None  # seconds per frame: variable frame rate
    audio_s: float = 0.0  # an AAC track of this many seconds beside the video


def write(case: Case, folder: Path) -> Path:
    import av

    path = folder / case.file
    with av.open(str(path), "w", format=case.container) as c:
        rate = case.fps
        s = c.add_stream(case.codec, rate=rate, options=dict(case.options))
        s.width, s.height, s.pix_fmt = case.width, case.height, case.pix_fmt
        if case.times is not None:
            s.codec_context.time_base = Fraction(1, 1000)
        if case.sample_aspect is not None:
            s.codec_context.sample_aspect_ratio = case.sample_aspect
        for k, v in case.context.items():
            setattr(s.codec_context, k, v)
        if case.rotation:
            s.set_display_rotation(case.rotation)
        audio = c.add_stream("aac", rate=16000) if case.audio_s else None
        for k in range(case.n):
            frame = index_frame(k, case.width, case.height)
            if case.rotation:
                frame = np.ascontiguousarray(np.rot90(frame, -(case.rotation // 90)))
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format=case.pix_fmt)
            if case.times is not None:
                vf.pts, vf.time_base = int(round(case.times[k] * 1000)), Fraction(1, 1000)
            else:
                vf.pts, vf.time_base = case.first_pts + k, 1 / rate
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
        if audio is not None:
            done, total = 0, int(case.audio_s * 16000)
            while done < total:
                samples = np.zeros((1, min(1024, total - done)), np.float32)
                af = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
                af.sample_rate, af.pts = 16000, done
                for p in audio.encode(af):
                    c.mux(p)
                done += samples.shape[1]
            for p in audio.encode():
                c.mux(p)
    return path


@dataclass(frozen=True)
class FfmpegReading:
    width: int  # displayed, upright
    height: int
    fps: float  # the stream's average rate, as FFmpeg prints it
    duration: float  # first decoded frame to the last one's end, seconds
    frames: int  # frames decoded
    frame_s: float  # one frame's length at that rate


def ffmpeg_read(path: Path) -> FfmpegReading:
    """What FFmpeg's own tool makes of the file's first video stream: its stream line (size, SAR, rotation, rate)
    and every decoded frame's time (``framemd5`` of the decoded frames, passed through unchanged)."""
    info = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    line = next(x for x in info.splitlines() if "Video:" in x)
    w, h = map(int, re.search(r", (\d{1,5})x(\d{1,5})", line).groups())
    sar = re.search(r"SAR (\d+):(\d+)", line)
    if sar and int(sar.group(2)):
        w = int(round(w * int(sar.group(1)) / int(sar.group(2))))
    rot = re.search(r"rotation of (-?[\d.]+) degrees", info)
    if rot and int(round(float(rot.group(1)))) % 180:
        w, h = h, w
    fps = float(re.search(r", ([\d.]+) fps", line).group(1))
    md5 = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "framemd5", "-"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    num, den = map(int, re.search(r"#tb 0: (\d+)/(\d+)", md5).groups())
    rows = [[int(v) for v in x.split(",")[1:4]] for x in md5.splitlines() if x and not x.startswith("#")]
    pts = [r[1] for r in rows]
    tb = num / den
    return FfmpegReading(w, h, fps, (max(pts) - min(pts) + rows[-1][2]) * tb, len(rows), 1 / fps)
