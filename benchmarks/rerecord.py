"""Re-record a labelled cohort through a phone no pretraining ever used: a held-out sensor and codec.

    .venv/bin/python benchmarks/rerecord.py COHORT OUT [--seed 0] [--workers 1] [--hand]

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
  pixel, where the cohort's own files are H.264;
- with ``--hand``, a hand that holds the phone, built unlike the generator's camera: sway with a 1/f spectrum
  (0.2-3 Hz) and a physiological tremor (7-12 Hz) of the whole picture, a roll, re-grips (a sudden shift that eases
  back), a rolling shutter (each row exposed a little later than the one above) and the blur of the shake over the
  exposure, seen through a stabiliser's crop margin. It is drawn from its own random stream, so each video's sensor
  is the one it gets without ``--hand``.

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


@dataclass(frozen=True)
class Hand:
    """One video's hand-held phone: RMS shifts ``sway`` (0.2-3 Hz, amplitude falling as 1/f) and ``tremor`` (7-12 Hz)
    as shares of the frame's short side, RMS ``roll`` (radians, sway band), re-grips at ``regrip_rate`` per second
    each moving the picture by ``regrip`` (share of the short side), rolling-shutter ``readout`` and ``exposure``
    (seconds), and the stabiliser's crop ``margin`` (the picture is enlarged by ``1 + margin``)."""

    sway: float
    tremor: float
    roll: float
    regrip_rate: float
    regrip: float
    readout: float
    exposure: float
    margin: float
    seed: int


def draw_hand(seed: int, video: str) -> Hand:
    """The hand of ``video``, from a stream of its own (``draw_phone``'s draws do not change with ``--hand``)."""
    rng = np.random.default_rng([seed, zlib.crc32(video.encode()), 1])
    return Hand(
        sway=float(rng.uniform(0.008, 0.03)), tremor=float(rng.uniform(0.001, 0.004)), roll=float(np.radians(rng.uniform(0.3, 1.5))),
        regrip_rate=float(rng.uniform(0.0, 0.2)), regrip=float(rng.uniform(0.03, 0.08)), readout=float(rng.uniform(0.015, 0.033)),
        exposure=float(rng.uniform(0.004, 0.033)), margin=float(rng.uniform(0.05, 0.12)), seed=int(rng.integers(2**31)),
    )


class HandPath:
    """Where ``hand`` holds the phone over ``duration`` seconds: ``at(t)`` gives the picture's shift (shares of the
    short side, x and y) and roll (radians) at any times. Each band is a sum of sines at random frequencies and phases
    (smooth at every time, so rows and sub-exposures can be sampled anywhere), scaled to its RMS."""

    def __init__(self, hand: Hand, duration: float):
        rng = np.random.default_rng(hand.seed)
        self._bands = []  # (frequencies [3, K], amplitudes [3, K], phases [3, K]) for x, y, roll
        for low, high, rms, pink in ((0.2, 3.0, (hand.sway, hand.sway, hand.roll), True), (7.0, 12.0, (hand.tremor, hand.tremor, 0.0), False)):
            f = np.exp(rng.uniform(np.log(low), np.log(high), (3, 24))) if pink else rng.uniform(low, high, (3, 8))
            a = 1.0 / f if pink else np.ones_like(f)
            a *= np.asarray(rms)[:, None] / np.sqrt((a**2).sum(axis=1, keepdims=True) / 2)  # a sine's RMS is its amplitude / sqrt 2
            self._bands.append((f, a, rng.uniform(0, 2 * np.pi, f.shape)))
        count = rng.poisson(hand.regrip_rate * duration)
        self._regrips = [(float(rng.uniform(0, duration)), hand.regrip * np.array([np.cos(d), np.sin(d)]), float(rng.uniform(0.5, 1.5)))
                         for d in rng.uniform(0, 2 * np.pi, count)]

    def at(self, t: np.ndarray) -> np.ndarray:
        """``t`` ``[...]`` seconds -> ``[3, ...]``: x shift, y shift (shares of the short side), roll (radians)."""
        t = np.asarray(t, np.float64)
        flat = t.reshape(-1)
        out = np.zeros((3, flat.size))
        for f, a, phase in self._bands:
            out += (a[..., None] * np.sin(2 * np.pi * f[..., None] * flat + phase[..., None])).sum(axis=1)
        for start, shift, ease in self._regrips:
            # A re-grip moves the picture within a tenth of a second, then the hand eases it back.
            rise = np.clip((flat - start) / 0.1, 0.0, 1.0)
            out[:2] += shift[:, None] * np.where(flat < start + 0.1, rise, np.exp(-(flat - start - 0.1) / ease))
        return out.reshape(3, *t.shape)


def hand_frame(frame: np.ndarray, path: HandPath, hand: Hand, t: float, subframes: int = 4) -> np.ndarray:
    """``frame`` ``[H, W, 3] uint8``, the scene at ``t`` seconds, as the held phone records it: each row seen at its
    own time (rolling shutter), the mean of ``subframes`` moments across the exposure (the shake's blur), enlarged by
    the stabiliser's margin about the centre. Returns ``[H, W, 3] uint8``."""
    import cv2

    h, w = frame.shape[:2]
    short, zoom = min(h, w), 1.0 + hand.margin
    cx, cy = (w - 1) / 2, (h - 1) / 2
    xs = (np.arange(w, dtype=np.float32) - cx)[None, :]
    ys = (np.arange(h, dtype=np.float32) - cy)[:, None]
    rows = np.arange(h) / h - 0.5
    total = np.zeros((h, w, 3), np.float32)
    for s in range(subframes):
        moment = t + hand.exposure * ((s + 0.5) / subframes - 0.5)
        dx, dy, roll = path.at(moment + hand.readout * rows).astype(np.float32)  # [3, H]: one pose per row
        cos, sin = (np.cos(roll) / zoom)[:, None], (np.sin(roll) / zoom)[:, None]
        # The pixel at (x, y) shows the scene point the rolled, shifted, enlarged picture puts there; each row's map
        # is a line in x, so one product and one sum per pixel.
        map_x = cos * xs + (cx - sin * ys + dx[:, None] * short)
        map_y = sin * xs + (cy + cos * ys + dy[:, None] * short)
        total += cv2.remap(frame, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    total /= subframes
    np.rint(total, out=total)
    return total.astype(np.uint8)


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


def rerecord_video(source: Path, dest: Path, phone: Phone, hand: Hand | None = None) -> None:
    """Write ``source`` through ``phone`` (held by ``hand``, if given) to ``dest`` (upright, same size, frame rate and
    frame count; atomically)."""
    info = probe(source)
    held = HandPath(hand, info.duration + 1.0) if hand is not None else None
    times = (np.arange(info.frame_count) + 0.5) / info.fps  # each frame's middle: the frame shown there is that frame
    rng = np.random.default_rng(phone.seed)
    bitrate = int(phone.bits_per_pixel * info.width * info.height * info.fps)
    with atomic.atomic_path(dest) as tmp:
        with VideoWriter(tmp, info.width, info.height, fps=info.fps, codec="mpeg4", bitrate=bitrate, gop=int(2 * info.fps)) as writer:
            for i, frame in iter_frames(source, times):
                if hand is not None:
                    frame = hand_frame(frame, held, hand, float(times[i]))
                writer.write(sensor_frame(frame, phone, float(times[i]), rng))


def _job(args: tuple[str, str, Phone, Hand | None]) -> None:
    rerecord_video(Path(args[0]), Path(args[1]), args[2], args[3])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cohort", type=Path, help="folder of a labelled cohort (its manifest.csv)")
    parser.add_argument("out", type=Path, help="folder for the re-recorded cohort")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--hand", action="store_true", help="hold the phone in a shaking hand (rolling shutter, blur)")
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
    hands = {v: draw_hand(a.seed, v) for v in videos} if a.hand else {}
    drawn = {"source": str(a.cohort.resolve()), "seed": a.seed, "phones": {v: asdict(p) for v, p in phones.items()}}
    if a.hand:
        drawn["hands"] = {v: asdict(h) for v, h in hands.items()}
    atomic.write_json(a.out / "rerecord.json", drawn)
    todo = [(str(a.cohort / v), str(a.out / v), phones[v], hands.get(v)) for v in videos if not (a.out / v).exists()]

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
