"""Writing video files with PyAV (H.264 by default): synthetic cohorts, test files and review clips. Reading is
``video``'s alone."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np


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


def h264_round_trip(frames: np.ndarray, crf: int, fps: float = 30.0) -> np.ndarray:
    """``frames`` ``[T, H, W, 3] uint8`` (RGB, even H and W) as a viewer sees them after H.264 at ``crf`` (18:
    nearly lossless, 40: a heavily compressed upload) in 4:2:0 colour: encoded here, decoded by ``video``. Returns
    ``[T, H, W, 3] uint8``."""
    import tempfile

    from spasmscope.data.video import read_frames

    t, h, w = frames.shape[:3]
    with tempfile.TemporaryDirectory(prefix="spasmscope-codec-") as tmp:
        path = Path(tmp) / "clip.mp4"
        with VideoWriter(path, w, h, fps=fps, crf=int(crf), preset="ultrafast") as writer:
            for frame in frames:
                writer.write(frame)
        return read_frames(path, np.arange(t) / fps)
