"""Speed and memory against their limits, measured side by side in one run on one machine (issue "Benchmarks").
Prints one JSON object; with ``--write`` appends a dated entry to BENCHMARKS.md. Also ``spasmscope bench``.

    .venv/bin/python benchmarks/run.py [--out bench-out] [--minutes 60] [--no-paper] [--batch 1 4 16] [--write]

1. decode limit: frames/s of PyAV decoding a 720p H.264 30 fps file (threaded decoder, no conversion);
2. prepare: segments/s of ``prepare`` (cpu preset clips), and its frames/s as a share of the decode limit;
3. model: clips/s forward for the cpu and paper presets at batch 1, 4, 16 (``--batch``), and forward + backward;
4. screen: seconds of recording screened per second end to end, and its steady rate (fixed start-up costs
   removed by differencing a 3-minute and a 1-minute run) against the bound of its stages measured alone (on a
   CPU they share the cores: 1 / (1/decode + 1/preprocess + 1/model), in windows/s);
5. naive baseline (``benchmarks/naive_screen.py``) and spasmscope's speed-up over it;
6. memory: peak RSS screening a 1-minute and an N-minute recording, each in a fresh process;
7. training: cpu-preset clips/s reading the segment cache against decoding every segment on the fly.

Test videos are drawn once into ``--out`` (a textured room, a moving "infant" blob) and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def draw_video(path: Path, seconds: float, width: int, height: int, fps: int = 30, seed: int = 0) -> Path:
    """A still textured room with an infant-sized blob that wanders and wiggles; H.264, keyframe every 2 s."""
    import cv2

    from spasmscope.atomic import atomic_path
    from spasmscope.data.writer import VideoWriter

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    room = cv2.resize(rng.integers(40, 200, (height // 8, width // 8, 3), dtype=np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)
    with atomic_path(path) as tmp, VideoWriter(tmp, width, height, fps=fps, preset="ultrafast", gop=2 * fps, bitrate=int(2.5 * width * height)) as w:
        for k in range(int(seconds * fps)):
            t = k / fps
            frame = room.copy()
            cx, cy = width * (0.5 + 0.1 * np.sin(t / 7)), height * (0.5 + 0.1 * np.cos(t / 5))
            axes = (int(height * (0.08 + 0.01 * np.sin(3 * t))), int(height * 0.14))
            cv2.ellipse(frame, (int(cx), int(cy)), axes, 20 * np.sin(t), 0, 360, (230, 180, 150), -1)
            w.write(frame)
    return path


def decode_limit(path: Path) -> float:
    """Frames per second of plain decoding (no colour conversion), with the decoder's own threads."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        began, n = time.perf_counter(), 0
        for _ in c.decode(s):
            n += 1
    return n / (time.perf_counter() - began)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_prepare(video: Path, segments: int) -> dict:
    import pandas as pd

    from spasmscope.data.cache import prepare
    from spasmscope.data.manifest import read_manifest
    from spasmscope.model.config import preset

    with tempfile.TemporaryDirectory() as tmp:
        rows = pd.DataFrame({"video": str(video), "child": "c", "start": 5.0 * np.arange(segments), "label": 0})
        rows.to_csv(Path(tmp) / "m.csv", index=False)
        began = time.perf_counter()
        prepare(read_manifest(Path(tmp) / "m.csv"), Path(tmp) / "cache", preset("cpu").clip, workers=os.cpu_count())
        seconds = time.perf_counter() - began
    return {"segments": segments, "segments_per_s": round(segments / seconds, 2), "frames_per_s": round(segments * 150 / seconds, 1)}


def bench_model(presets: list[str], repeats: int, batches: tuple[int, ...] = (1, 4, 16)) -> list[dict]:
    """Each measurement in a fresh process (benchmarks/model.py), so memory and threads are its own."""
    plan = [(p, b, m) for p in presets for b in batches for m in ("score", "train")]
    plan = [(p, b, m) for p, b, m in plan if not (p == "paper" and m == "train" and b == 16)]  # ~40 GB: beyond 24 GB
    rows = []
    for p, b, m in plan:
        out = subprocess.run([sys.executable, str(HERE / "model.py"), "--one", p, str(b), m, "--repeats", str(1 if p == "paper" else repeats)],
                             capture_output=True, text=True, check=True)  # fmt: skip
        rows.append(json.loads(out.stdout))
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def _model_dir(out: Path, name: str = "cpu") -> Path:
    """A model folder of preset ``name``: for ``cpu`` the shipped backbone when there is one, else random weights
    (speed does not depend on weights)."""
    import torch

    from spasmscope.model.config import preset
    from spasmscope.model.hiera import Hiera
    from spasmscope.model.weights import load_backbone, save_model

    folder = out / f"model-{name}"
    if not (folder / "model.safetensors").exists():
        torch.manual_seed(0)
        cfg = preset(name)
        model = Hiera(cfg.model)
        try:
            if name == "cpu":
                load_backbone(model, "default")
        except Exception:  # no shipped backbone in this checkout: random weights time the same
            pass
        save_model(folder, model, cfg, {"kind": "benchmark"})
    return folder


def bench_stages(video: Path, model_dir: Path) -> dict:
    """Windows/s of each screening stage alone on ``video``: decode (+ conversion to the working size),
    preprocess (localise, characteristics, crop and resize), model (batch 16, scored as screening scores)."""
    from spasmscope.data.characteristics import visual
    from spasmscope.data.localise import MotionLocaliser
    from spasmscope.data.preprocess import crop_clip, working_size
    from spasmscope.data.segments import SEGMENT_S, window_spans
    from spasmscope.data.video import iter_frames, probe, segment_times
    from spasmscope.data.windows import characteristic_pairs, stand_ins
    from spasmscope.model.inference import score_clips
    from spasmscope.model.weights import load_model

    model, run, _ = load_model(model_dir)
    info = probe(video)
    spans = window_spans(info.duration, SEGMENT_S, 2.5)
    # The frames screening asks for: those the localiser, the clip and the characteristics read (stand_ins).
    loc = MotionLocaliser()
    per_window = [ts[stand_ins(len(ts), run.clip, loc)] for ts in (segment_times(a, b) for a, b in spans)]
    times = np.unique(np.concatenate(per_window))
    first = np.searchsorted(times, per_window[0])
    size = working_size(info.width, info.height, run.clip)
    began = time.perf_counter()
    held = {}
    for i, frame in iter_frames(video, times, size=size):
        if i <= first[-1]:
            held[i] = frame
    decode = len(spans) / (time.perf_counter() - began)

    frames = np.stack([held[i] for i in first])
    n = min(len(spans), 40)
    began = time.perf_counter()
    for _ in range(n):
        found = loc.update(frames, 30.0)
        pairs = characteristic_pairs(len(frames))
        visual(frames[pairs], frames[pairs + 1])
        crop_clip(frames, found.crop, run.clip)
    preprocess = n / (time.perf_counter() - began)

    # The model stage as screening runs it: uint8 clips through score_clips, in the views the preset scores.
    model.eval()
    t, s = run.model.input_size[0], run.model.input_size[1]
    clips = np.random.default_rng(0).integers(0, 256, (16, t, s, s, 3), dtype=np.uint8)
    score_clips(model, clips, run.train.test_flips)
    began = time.perf_counter()
    for _ in range(5):
        score_clips(model, clips, run.train.test_flips)
    forward = 16 * 5 / (time.perf_counter() - began)
    bound = 1 / (1 / decode + 1 / preprocess + 1 / forward)
    return {"windows": len(spans), "decode_windows_per_s": round(decode, 2), "preprocess_windows_per_s": round(preprocess, 2),
            "model_windows_per_s": round(forward, 2), "bound_windows_per_s": round(bound, 2)}  # fmt: skip


def screen_in_child(model_dir: Path, video: Path, out: Path) -> dict:
    """Screen ``video`` in a fresh process into an emptied ``out`` (screening resumes finished recordings, which
    would time nothing); its wall time and its own peak RSS."""
    shutil.rmtree(out, ignore_errors=True)
    code = (
        "import json, resource, sys, time\nfrom pathlib import Path\nfrom spasmscope.screening.screen import ScreenConfig, screen\n"
        "t = time.perf_counter()\nr = screen(Path(sys.argv[1]), [sys.argv[2]], Path(sys.argv[3]), ScreenConfig())\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'windows': len(r.windows), 'duration': float(r.windows['end'].max()),"
        " 'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))"
    )  # fmt: skip
    return _in_child(code, model_dir, video, out)


def naive_in_child(model_dir: Path, video: Path) -> dict:
    code = (
        "import json, sys, time\nsys.path.insert(0, sys.argv[3])\nfrom naive_screen import naive_screen\n"
        "t = time.perf_counter()\nscores, seconds = naive_screen(sys.argv[1], sys.argv[2])\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'duration': seconds, 'windows': len(scores)}))"
    )  # fmt: skip
    return _in_child(code, model_dir, video, HERE)


def _in_child(code: str, *args: Path) -> dict:
    """Run ``code`` in a fresh Python process (its own memory and threads) and read the JSON line it prints last."""
    res = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def bench_training(video: Path, segments: int) -> dict:
    """cpu-preset training clips/s over ``segments`` segments: from the cache, and decoding each on the fly."""
    import pandas as pd
    import torch

    from spasmscope.data.cache import SegmentCache, load_clips, prepare, segment_clips
    from spasmscope.data.manifest import read_manifest
    from spasmscope.data.preprocess import working_size
    from spasmscope.data.video import probe
    from spasmscope.model.config import preset
    from spasmscope.model.hiera import Hiera
    from spasmscope.study.train import fit

    cfg = preset("cpu")
    train = replace(cfg.train, epochs=1)
    info = probe(video)
    starts = 5.0 * np.arange(segments)
    labels = np.arange(segments) % 2
    size = working_size(info.width, info.height, cfg.clip)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        pd.DataFrame({"video": str(video), "child": "c", "start": starts, "label": labels}).to_csv(Path(tmp) / "m.csv", index=False)
        prepare(read_manifest(Path(tmp) / "m.csv"), Path(tmp) / "cache", cfg.clip, workers=os.cpu_count())
        cache = SegmentCache(Path(tmp) / "cache", cfg.clip)
        for name, load in (("cached", lambda i: load_clips(cache, str(video), starts[i], starts[i] + 5)),
                           ("decoded_on_the_fly", lambda i: segment_clips(str(video), starts[i], starts[i] + 5, size, cfg.clip))):  # fmt: skip
            torch.manual_seed(0)
            began = time.perf_counter()
            fit(Hiera(cfg.model), load, labels, train)
            out[f"{name}_clips_per_s"] = round(segments / (time.perf_counter() - began), 2)
    out["speedup"] = round(out["cached_clips_per_s"] / out["decoded_on_the_fly_clips_per_s"], 2)
    return out


def run(out: Path, minutes: float, paper: bool, repeats: int, speed_s: float = 180.0, batches: tuple[int, ...] = (1, 4, 16)) -> dict:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    v720 = draw_video(out / f"room-720p-{speed_s:g}s.mp4", speed_s, 1280, 720)
    v720_short = draw_video(out / f"room-720p-{speed_s / 3:g}s.mp4", speed_s / 3, 1280, 720)
    # The memory figure compares a 1-minute recording with the long one; a run asked for less than a minute (a quick
    # check that the bench runs) compares the long one with itself rather than draw and screen a longer one.
    reference = min(1.0, minutes)
    short = draw_video(out / f"room-360p-{reference:g}min.mp4", 60 * reference, 640, 360)
    long = draw_video(out / f"room-360p-{minutes:g}min.mp4", 60 * minutes, 640, 360)
    model_dir = _model_dir(out)
    result: dict = {}
    limit = decode_limit(v720)
    result["decode"] = {"video": "1280x720 H.264 30 fps", "frames_per_s": round(limit, 1)}
    segments = max(1, min(24, int(speed_s // 5)))  # 5-s segments of the speed video for prepare and training
    p = bench_prepare(v720, segments)
    result["prepare"] = {**p, "share_of_decode_limit": round(p["frames_per_s"] / limit, 3)}
    result["model"] = bench_model(["cpu", "paper"] if paper else ["cpu"], repeats, batches)
    stages = bench_stages(v720, model_dir)
    e2e = screen_in_child(model_dir, v720, out / "screen-720p")
    # A run's fixed costs (loading the model, hashing the file, the first batch) weigh a few seconds on a 3-minute
    # file; the steady rate, from the difference between a 3-minute and a 1-minute run, is what the bound is about.
    e2e_short = screen_in_child(model_dir, v720_short, out / "screen-720p-1min")
    windows_per_s = e2e["windows"] / e2e["seconds"]
    steady = (e2e["windows"] - e2e_short["windows"]) / max(e2e["seconds"] - e2e_short["seconds"], 1e-9)
    result["screen"] = {**stages, "end_to_end_windows_per_s": round(windows_per_s, 2), "recording_s_per_s": round(e2e["duration"] / e2e["seconds"], 1),
                        "fixed_cost_s": round(e2e["seconds"] - e2e["windows"] / steady, 2), "steady_windows_per_s": round(steady, 2),
                        "ratio_to_bound": round(steady / stages["bound_windows_per_s"], 3)}  # fmt: skip
    naive = naive_in_child(model_dir, v720)
    result["naive"] = {"recording_s_per_s": round(naive["duration"] / naive["seconds"], 1),
                       "speedup": round((e2e["duration"] / e2e["seconds"]) / (naive["duration"] / naive["seconds"]), 2)}  # fmt: skip
    one = screen_in_child(model_dir, short, out / f"screen-{reference:g}min")
    many = one if long == short else screen_in_child(model_dir, long, out / f"screen-{minutes:g}min")
    result["memory"] = {f"peak_rss_mib_{reference:g}min": round(one["peak_rss_mib"], 1), f"peak_rss_mib_{minutes:g}min": round(many["peak_rss_mib"], 1),
                        "ratio": round(many["peak_rss_mib"] / one["peak_rss_mib"], 3), f"recording_s_per_s_{minutes:g}min": round(many["duration"] / many["seconds"], 1)}  # fmt: skip
    result["training"] = bench_training(v720, segments)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads, {'CUDA' if torch.cuda.is_available() else 'CPU only'}"
    return {"date": date.today().isoformat(), "machine": machine, "command": "python benchmarks/run.py " + " ".join(sys.argv[1:]), **result}


def write_entry(result: dict, path: Path) -> None:
    s, m, n = result["screen"], result["memory"], result["naive"]
    lines = [f"\n## {result['date']}: screening, prepare, model and training against their limits", "",
             f"Machine: {result['machine']}. Command: `{result['command']}`.", "",
             "| figure | value |", "|---|---|",
             f"| decode limit, 720p H.264 | {result['decode']['frames_per_s']} frames/s |",
             f"| prepare | {result['prepare']['segments_per_s']} segments/s = {result['prepare']['frames_per_s']} frames/s, {result['prepare']['share_of_decode_limit']:.0%} of the decode limit |",
             f"| screen stages alone (720p) | decode {s['decode_windows_per_s']}, preprocess {s['preprocess_windows_per_s']}, model {s['model_windows_per_s']} windows/s; bound {s['bound_windows_per_s']} |",
             f"| screen end to end (720p 3 min, hop 2.5 s) | {s['end_to_end_windows_per_s']} windows/s = {s['recording_s_per_s']} s of recording per s, start-up included |",
             f"| screen steady rate (3 min - 1 min runs) | {s['steady_windows_per_s']} windows/s, {s['ratio_to_bound']:.2f} of the bound; fixed cost {s['fixed_cost_s']} s per run |",
             f"| naive baseline (OpenCV, every frame, hop 5 s, batch 1, no crop or quality gate) | {n['recording_s_per_s']} s of recording per s; spasmscope at {n['speedup']}x its speed |",
             *[f"| memory screening {k.replace('peak_rss_mib_', '')} | {v} MiB |" for k, v in m.items() if k.startswith("peak")],
             f"| memory ratio, long / 1 min | {m['ratio']} |",
             f"| training, cpu preset | {result['training']['cached_clips_per_s']} clips/s from the cache, {result['training']['decoded_on_the_fly_clips_per_s']} decoding on the fly ({result['training']['speedup']}x) |"]  # fmt: skip
    lines += ["", "| preset | batch | pass | clips/s | peak RSS (MiB) |", "|---|---|---|---|---|"]
    lines += [f"| {r['preset']} | {r['batch']} | {'forward + backward' if r['mode'] == 'train' else 'forward'} | {r['clips_per_s']} | {r['peak_rss_mib']} |" for r in result["model"]]
    with open(path, "a") as f:
        f.write("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--minutes", type=float, default=60.0, help="length of the long recording for the memory figure")
    ap.add_argument("--no-paper", action="store_true", help="skip the paper preset's model figures (minutes on a CPU)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", nargs="+", type=int, default=[1, 4, 16], help="batch sizes of the model figures (each pass in a fresh process)")
    ap.add_argument("--speed-seconds", type=float, default=180.0, help="length of the 720p video of the speed figures (a third as long for the fixed cost)")
    ap.add_argument("--write", action="store_true", help="append the figures to BENCHMARKS.md")
    args = ap.parse_args(argv)
    if min(args.batch) < 1:
        ap.error(f"--batch {min(args.batch)} is not a batch size: give whole numbers of clips, 1 or more")
    if not (args.minutes > 0 and args.speed_seconds > 0 and args.repeats >= 1):
        ap.error(f"--minutes {args.minutes:g} --speed-seconds {args.speed_seconds:g} --repeats {args.repeats}: the recordings' lengths must be positive and the repeats 1 or more")
    # Resolved here: the stages hand the path to manifests written in temporary folders, which resolve relative paths from there.
    result = run(args.out.resolve(), args.minutes, not args.no_paper, args.repeats, args.speed_seconds, tuple(args.batch))
    print(json.dumps(result, indent=1))
    if args.write:
        write_entry(result, HERE.parent / "BENCHMARKS.md")


if __name__ == "__main__":
    main()
