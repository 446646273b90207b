"""Screening on Ray: throughput with 1 and 2 Ray CPUs on this machine, the fixed cost of starting on Ray, the
per-window costs, and from them the hours of video screened per hour on K nodes (issue "Scale out").

    python benchmarks/ray_throughput.py [--minutes 3] [--recordings 4] [--out DIR] [--gpu-figures FILE.json]

Each run is a fresh process (a Ray started inside it with ``ray.init(num_cpus=N)``) screening ``--recordings``
1280x720 H.264 recordings of ``--minutes`` each, drawn once into ``--out``, with the ``cpu`` preset (the shipped
backbone); then one recording of four times that length whole and in four chunks, for the cost of chunking (a
chunk's localiser first watches up to 5.5 minutes before it). Prints one JSON line per measurement and the table.

``--gpu-figures`` (written by ``benchmarks/gpu_check.sh``) adds nodes with GPUs to the table from a GPU's measured
scoring rate of the preset it ran (``paper``), and that preset's one-core cost of cutting a window, measured here
(a 224-pixel clip costs more to cut than the ``cpu`` preset's 64); without it those rows say "not measured".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import _model_dir, draw_video  # noqa: E402  (the speed benchmark's recording and model)

HOP = 2.5  # seconds of new video per window at the default hop

RUN = """
import json, sys, time
from pathlib import Path
cpus, model, out, chunk, videos = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4]), sys.argv[5:]
from spasmscope.screening.screen import ScreenConfig, screen
began = time.perf_counter()
if cpus:
    import ray
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
started = time.perf_counter() - began
result = screen(model, videos, out, ScreenConfig(), ray="local" if cpus else None, chunk_minutes=chunk)
print(json.dumps({"ray_cpus": cpus, "seconds": time.perf_counter() - began, "ray_init_s": started, "windows": len(result.windows)}))
"""

COSTS = """
import json, sys, time
import numpy as np, torch
from pathlib import Path
from spasmscope.data.video import probe
from spasmscope.data.windows import WindowConfig, windows_of
from spasmscope.model.weights import load_model
from spasmscope.screening.recording import score_windows
from spasmscope.screening.screen import ScreenConfig
torch.set_num_threads(1)  # one worker's cost: a Ray task or actor holds one CPU
model, run, meta = load_model(Path(sys.argv[1]))
info = probe(sys.argv[2])
cfg = ScreenConfig()
began = time.perf_counter()
windows = list(windows_of(info.path, info, cfg.windows, run.clip, cfg.windows.localiser()))
cut = (time.perf_counter() - began) / len(windows)
valid = [w for w in windows if w.clip is not None][:64]
if sys.argv[3:] == ["cut"]:  # the cut alone (a GPU scores; a Hiera-B scoring on one core would take minutes)
    print(json.dumps({"cut_s_per_window": cut, "windows": len(windows)}))
    sys.exit()
model.eval()
score_windows(model, run, valid[:cfg.batch_size], cfg)
began = time.perf_counter()
for i in range(0, len(valid), cfg.batch_size):
    score_windows(model, run, valid[i : i + cfg.batch_size], cfg)
score = (time.perf_counter() - began) / len(valid)
print(json.dumps({"cut_s_per_window": cut, "score_s_per_window_cpu": score, "windows": len(windows)}))
"""


def _child(code: str, *args: str) -> dict:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def table(cut: float, score_cpu: float, gpu_score: float | None, cores: int, gpu_cut: float | None = None) -> list[dict]:
    """Hours of video per hour on K nodes: CPU nodes of ``cores`` cores (every core cuts or scores a window at the
    measured one-core costs), and nodes of G GPUs (the GPUs score at ``gpu_score`` s/window, the cores cut at
    ``gpu_cut`` s/window, the cost for the GPU's preset; ``cut`` where not given)."""
    rows = []
    for k in (1, 4, 16):
        per_node_cpu = cores / (cut + score_cpu)  # windows/s
        rows.append({"nodes": k, "gpus_per_node": 0, "cores_per_node": cores, "video_hours_per_hour": round(k * per_node_cpu * HOP, 1)})
        for g in (1, 4, 8):
            if gpu_score is None:
                rows.append({"nodes": k, "gpus_per_node": g, "cores_per_node": cores, "video_hours_per_hour": "not measured"})
                continue
            per_node = min(cores / (gpu_cut or cut), g / gpu_score)  # cutting on the cores, scoring on the GPUs, whichever is slower
            rows.append({"nodes": k, "gpus_per_node": g, "cores_per_node": cores, "video_hours_per_hour": round(k * per_node * HOP, 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="length of each recording screened")
    parser.add_argument("--recordings", type=int, default=4, help="recordings screened in each run")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "spasmscope-ray-bench")
    parser.add_argument("--gpu-figures", type=Path, help="JSON from benchmarks/gpu_check.sh with score_s_per_window_gpu")
    parser.add_argument("--cores", type=int, default=32, help="cores per node in the table")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model = _model_dir(args.out)
    videos = [str(draw_video(args.out / f"recording-{args.minutes:g}min-{i}.mp4", args.minutes * 60, 1280, 720, seed=i)) for i in range(args.recordings)]
    long = str(draw_video(args.out / f"recording-{4 * args.minutes:g}min.mp4", 4 * args.minutes * 60, 1280, 720))
    short = str(draw_video(args.out / "recording-10s.mp4", 10.0, 1280, 720))
    for cpus in (0, 1, 2):
        r = _child(RUN, str(cpus), str(model), str(args.out / f"run-{cpus}"), "1000", *videos)
        r["windows_per_s"] = round(r["windows"] / r["seconds"], 3)
        r["video_s_per_s"] = round(r["windows_per_s"] * HOP, 2)
        print(json.dumps({"measure": f"{args.recordings} recordings, " + ("serial" if cpus == 0 else f"ray {cpus} cpu"), **r}))
    for chunk in (1000, args.minutes):
        r = _child(RUN, "2", str(model), str(args.out / f"long-{chunk:g}"), str(chunk), long)
        print(json.dumps({"measure": f"one {4 * args.minutes:g}-min recording on ray 2 cpu, " + ("whole" if chunk == 1000 else f"in chunks of {chunk:g} min"),
                          **r, "windows_per_s": round(r["windows"] / r["seconds"], 3)}))  # fmt: skip
    fixed = {cpus: _child(RUN, str(cpus), str(model), str(args.out / f"short-{cpus}"), "1000", short)["seconds"] for cpus in (0, 1)}
    print(json.dumps({"measure": "fixed cost of Ray (10-s recording, 1 Ray CPU minus serial)", "seconds": round(fixed[1] - fixed[0], 2),
                      "serial_s": round(fixed[0], 2), "ray_s": round(fixed[1], 2)}))  # fmt: skip
    costs = _child(COSTS, str(model), videos[0])
    print(json.dumps({"measure": "one-core costs per window", **{k: round(v, 4) if isinstance(v, float) else v for k, v in costs.items()}}))
    gpu = gpu_cut = None
    if args.gpu_figures:
        figures = json.loads(args.gpu_figures.read_text())
        gpu = figures["score_s_per_window_gpu"]
        ran = next((r["preset"] for r in figures.get("results", []) if r.get("measure") == "scoring"), "paper")
        gpu_cut = _child(COSTS, str(_model_dir(args.out, ran)), videos[0], "cut")["cut_s_per_window"]
        print(json.dumps({"measure": f"one-core cost of cutting a window for the {ran} preset", "cut_s_per_window": round(gpu_cut, 4)}))
    print("| nodes | GPUs per node | cores per node | hours of video per hour |")
    print("|---|---|---|---|")
    for row in table(costs["cut_s_per_window"], costs["score_s_per_window_cpu"], gpu, args.cores, gpu_cut):
        print(f"| {row['nodes']} | {row['gpus_per_node']} | {row['cores_per_node']} | {row['video_hours_per_hour']} |")


if __name__ == "__main__":
    main()
