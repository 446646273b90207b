"""Re-record a labelled cohort through a phone no pretraining ever used: a held-out sensor and codec.

    .venv/bin/python benchmarks/rerecord.py COHORT OUT [--seed 0] [--workers 1]

The brief measured an outside renderer's hand-held shake and sensor noise costing about as much as its different
drawing. ``pretrain supervised --degrade P`` draws one model of a cheap camera: noise of one spread in every pixel,
fresh in each, a Gaussian lens, and H.264. Whether pretraining with it carries over to a camera it never saw can only
be measured on a camera built differently, so this script re-records every video of a cohort through another model,
which no training code imports:

- noise that grows with the light (shot noise: variance ``shot x level + read^2`` grey levels squared), drawn per
  colour channel at half resolution and enlarged, as a phone's demosaicing and denoiser leave it: blotches of
  colour rather than grain;
- auto-exposure hunting: the whole picture's brightness swinging slowly (0.1-0.5 Hz, by 3-12%), and a white balance
  tinted per video (each channel 0.92-1.08);
- MPEG-4 Part 2 (older phones' and messaging apps' codec: 8x8 blocks, no deblocking filter) at 0.04-0.12 bits per
  pixel, where the cohort's own files are H.264.

Frames keep their upright size and their times, so the manifest, events, gaps and positions are copied as they are;
each video's draw is in ``OUT/rerecord.json``. Resumable: videos already written are kept (each is written
atomically), and ``manifest.csv`` is written last.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from spasmscope import atomic
from spasmscope.data.batch import run_jobs
from spasmscope.data.manifest import read_manifest
from spasmscope.data.video import iter_frames, probe
from spasmscope.data.writer import VideoWriter

COPIED = ("events.csv", "gaps.csv", "positions.csv")


@dataclass(frozen=True)
class Phone:
    """One video's held-out camera: ``shot`` (grey levels of variance per grey level), ``read`` (grey levels),
    exposure swing ``swing`` (fraction) at ``hertz`` from phase ``phase`` (radians), ``tint`` (RGB gains), and
    ``bits_per_pixel`` of the MPEG-4 Part 2 encoder."""

    shot: float
    read: float
    swing: float
    hertz: float
    phase: float
    tint: tuple[float, float, float]
    bits_per_pixel: float
    seed: int


def draw_phone(seed: int, video: str) -> Phone:
    """The camera of ``video`` (its path in the manifest), the same in every run with the same ``seed``."""
    rng = np.random.default_rng([seed, zlib.crc32(video.encode())])
    tint = rng.uniform(0.92, 1.08, 3)
    return Phone(
        shot=float(rng.uniform(0.1, 0.6)), read=float(rng.uniform(1.0, 3.0)),
        swing=float(rng.uniform(0.03, 0.12)), hertz=float(rng.uniform(0.1, 0.5)), phase=float(rng.uniform(0, 2 * np.pi)),
        tint=tuple(float(g) for g in tint / tint.mean()), bits_per_pixel=float(rng.uniform(0.04, 0.12)), seed=int(rng.integers(2**31)),
    )


def sensor_frame(frame: np.ndarray, phone: Phone, t: float, rng: np.random.Generator) -> np.ndarray:
    """``frame`` ``[H, W, 3] uint8`` (RGB) as ``phone``'s sensor records it at ``t`` seconds: tint and exposure,
    then noise of variance ``shot x level + read^2`` (level: the exposed grey level), drawn at half resolution per
    channel and enlarged bilinearly. Returns ``[H, W, 3] uint8``."""
    import cv2

    h, w = frame.shape[:2]
    gain = np.asarray(phone.tint, np.float32) * np.float32(1 + phone.swing * np.sin(2 * np.pi * phone.hertz * t + phone.phase))
    exposed = frame.astype(np.float32)
    exposed *= gain  # never negative: gains are positive
    unit = rng.standard_normal(((h + 1) // 2, (w + 1) // 2, 3), dtype=np.float32)
    noise = exposed * np.float32(phone.shot)
    noise += np.float32(phone.read**2)
    np.sqrt(noise, out=noise)
    noise *= cv2.resize(unit, (w, h), interpolation=cv2.INTER_LINEAR)
    exposed += noise
    # In place: a 1080p frame is 6 million floats, and each temporary costs as much as the arithmetic.
    np.rint(exposed, out=exposed)
    np.clip(exposed, 0, 255, out=exposed)
    return exposed.astype(np.uint8)


def rerecord_video(source: Path, dest: Path, phone: Phone) -> None:
    """Write ``source`` through ``phone`` to ``dest`` (upright, same size, frame rate and frame count; atomically)."""
    info = probe(source)
    times = (np.arange(info.frame_count) + 0.5) / info.fps  # each frame's middle: the frame shown there is that frame
    rng = np.random.default_rng(phone.seed)
    bitrate = int(phone.bits_per_pixel * info.width * info.height * info.fps)
    with atomic.atomic_path(dest) as tmp:
        with VideoWriter(tmp, info.width, info.height, fps=info.fps, codec="mpeg4", bitrate=bitrate, gop=int(2 * info.fps)) as writer:
            for i, frame in iter_frames(source, times):
                writer.write(sensor_frame(frame, phone, float(times[i]), rng))


def _job(args: tuple[str, str, Phone]) -> None:
    rerecord_video(Path(args[0]), Path(args[1]), args[2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cohort", type=Path, help="folder of a labelled cohort (its manifest.csv)")
    parser.add_argument("out", type=Path, help="folder for the re-recorded cohort")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    a = parser.parse_args(argv)
    manifest = a.cohort / "manifest.csv"
    if not manifest.is_file():
        print(f"rerecord.py: {manifest}: no manifest.csv here; give the folder of a cohort written by `spasmscope synth`", file=sys.stderr)
        return 2
    if a.out.resolve() == a.cohort.resolve():
        print(f"rerecord.py: {a.out}: the output folder is the cohort itself; give another folder", file=sys.stderr)
        return 2
    videos = sorted(set(read_manifest(manifest).rows.video))
    phones = {v: draw_phone(a.seed, v) for v in videos}
    atomic.write_json(a.out / "rerecord.json", {"source": str(a.cohort.resolve()), "seed": a.seed, "phones": {v: asdict(p) for v, p in phones.items()}})
    todo = [(str(a.cohort / v), str(a.out / v), phones[v]) for v in videos if not (a.out / v).exists()]

    def on_done(_job, _result, error: BaseException | None) -> None:
        if error is not None:
            raise error

    # The project's pool: one thread per worker, and workers that end with this process when it is killed.
    run_jobs(_job, todo, max(1, a.workers), on_done)
    for name in COPIED:
        if (a.cohort / name).is_file():
            shutil.copyfile(a.cohort / name, a.out / name)
    atomic.write_text(a.out / "manifest.csv", manifest.read_text())
    print(json.dumps({"videos": len(videos), "written": len(todo), "out": str(a.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
