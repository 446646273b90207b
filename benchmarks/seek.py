"""Measure the seek claim: reading 5 s from the middle of a 1-hour file costs about what it costs in
a 10-s file. Prints one JSON object.

    .venv/bin/python benchmarks/seek.py [--minutes 60] [--out bench-out]

Both files are H.264, 640x360, 30 fps, a keyframe every 2 s (a phone's is 1-2 s), written once with
PyAV into --out and reused on later runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from spasmscope.atomic import atomic_path
from spasmscope.data.video import DecodeStats, probe, read_segment
from spasmscope.data.writer import VideoWriter


def write(path: Path, seconds: float, width: int = 640, height: int = 360, fps: int = 30) -> Path:
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    with atomic_path(path) as tmp, VideoWriter(tmp, width, height, fps=fps, preset="ultrafast", gop=2 * fps, bitrate=800_000) as w:
        for k in range(int(seconds * fps)):
            frame = background.copy()
            x = (k * 5) % (width - 40)
            frame[100:200, x : x + 40] = (k * 3) % 256
            w.write(frame)
    return path


def time_read(path: Path, start: float, repeats: int) -> dict:
    times = []
    for _ in range(repeats):
        stats = DecodeStats()
        t = time.perf_counter()
        clip = read_segment(path, start, start + 5.0, stats=stats)
        times.append(time.perf_counter() - t)
        assert clip.shape[0] == 150
    return {"median_ms": round(1000 * statistics.median(times), 1), "min_ms": round(1000 * min(times), 1), "frames_decoded": stats.decoded, "seeks": stats.seeks}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    long = write(args.out / f"seek_{int(args.minutes)}min.mp4", args.minutes * 60)
    short = write(args.out / "seek_10s.mp4", 10.0)
    made = time.perf_counter() - t
    duration = probe(long).duration
    result = {
        "long_file": {"path": str(long), "duration_s": round(duration, 1), "bytes": long.stat().st_size},
        "read_5s_middle_of_long": time_read(long, duration / 2, args.repeats),
        "read_5s_middle_of_10s": time_read(short, 2.5, args.repeats),
        "write_s": round(made, 1),
    }
    result["ratio_long_over_short"] = round(result["read_5s_middle_of_long"]["median_ms"] / result["read_5s_middle_of_10s"]["median_ms"], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
