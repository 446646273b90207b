"""The prepared GPU check (run by ``benchmarks/gpu_check.sh``): the ``paper`` preset's training steps under bf16
autocast and its scoring rate, peak GPU memory, GPU utilisation, screening of a 10-minute 1280x720 recording, and
(``--ddp``, under torchrun) DistributedDataParallel training steps over the GPUs present.

Random weights and random clips time the same as trained ones; nothing is downloaded. Prints one JSON line per
measurement and writes them all to ``OUT/gpu_check.json``, with ``score_s_per_window_gpu`` that
``benchmarks/ray_throughput.py --gpu-figures`` reads. ``--small`` runs the same steps with a tiny model and a
short recording, on a CPU too, to check the script itself.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _config(small: bool):
    from spasmscope.data.preprocess import ClipConfig
    from spasmscope.model.config import RunConfig, TrainConfig, preset
    from spasmscope.model.architecture import HieraConfig

    if small:
        return RunConfig("cpu", HieraConfig(input_size=(8, 32, 32), embed_dim=16, num_heads=1, stages=(1, 1, 1, 1)), ClipConfig(frames=8, size=32), TrainConfig())
    cfg = preset("paper")
    return replace(cfg, train=replace(cfg.train, amp=True))


class Utilisation:
    """GPU utilisation sampled by nvidia-smi every 0.2 s while the block runs (empty without nvidia-smi)."""

    def __enter__(self):
        self.samples: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        if shutil.which("nvidia-smi") is None:
            return
        while not self.stop.is_set():
            r = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"], capture_output=True, text=True)
            if r.returncode == 0 and r.stdout.strip():
                self.samples.append(float(r.stdout.split()[0]))
            time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=5)

    def summary(self) -> dict:
        s = np.array(self.samples)
        return {"gpu_util_mean_pct": round(float(s.mean()), 1), "gpu_util_p90_pct": round(float(np.percentile(s, 90)), 1)} if len(s) else {"gpu_util_mean_pct": None}


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def train_steps(cfg, steps: int, batch: int) -> dict:
    """Optimiser steps of the training loop (``study.train.fit``) on random clips held in memory."""
    from spasmscope.model.hiera import Hiera
    from spasmscope.study.train import fit

    t, s = cfg.model.input_size[0], cfg.model.input_size[1]
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, (batch * steps, 1, t, s, s, 3), dtype=np.uint8)
    labels = np.arange(len(clips)) % 2
    torch.manual_seed(0)
    model = Hiera(cfg.model)
    train = replace(cfg.train, epochs=1, batch_size=batch, augment=False)
    fit(model, lambda i: clips[i], labels[: batch * 2], replace(train, epochs=1))  # warm-up: kernels, allocator
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    _sync()
    with Utilisation() as util:
        began = time.perf_counter()
        fit(model, lambda i: clips[i], labels, train)
        _sync()
        seconds = time.perf_counter() - began
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    return {"measure": "train steps", "preset": cfg.preset, "amp_bf16": bool(cfg.train.amp and torch.cuda.is_available()), "batch": batch, "steps": steps,
            "clips_per_s": round(batch * steps / seconds, 1), "peak_gpu_mem_gib": None if peak is None else round(peak, 2), **util.summary()}  # fmt: skip


def scoring_rate(cfg, batch: int, repeats: int) -> dict:
    """Windows scored per second by ``inference.score_clips`` (bf16 autocast on a GPU), batch ``batch``."""
    from spasmscope.model.hiera import Hiera
    from spasmscope.model.inference import device, score_clips

    t, s = cfg.model.input_size[0], cfg.model.input_size[1]
    clips = np.random.default_rng(1).integers(0, 256, (batch, t, s, s, 3), dtype=np.uint8)
    model = Hiera(cfg.model).to(device()).eval()
    score_clips(model, clips, cfg.train.test_flips)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    _sync()
    with Utilisation() as util:
        began = time.perf_counter()
        for _ in range(repeats):
            score_clips(model, clips, cfg.train.test_flips)
        _sync()
        seconds = time.perf_counter() - began
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    rate = batch * repeats / seconds
    return {"measure": "scoring", "preset": cfg.preset, "batch": batch, "windows_per_s": round(rate, 1), "score_s_per_window_gpu": 1 / rate,
            "peak_gpu_mem_gib": None if peak is None else round(peak, 2), **util.summary()}  # fmt: skip


def screening(cfg, out: Path, minutes: float) -> dict:
    """``screen`` of a 1280x720 recording with a model of ``cfg`` (random weights), end to end."""
    from run import draw_video

    from spasmscope.model.hiera import Hiera
    from spasmscope.model.weights import save_model
    from spasmscope.screening.screen import ScreenConfig, screen

    video = draw_video(out / f"recording-{minutes:g}min.mp4", minutes * 60, 1280, 720)
    model_dir = out / f"model-{cfg.preset}"
    torch.manual_seed(0)
    save_model(model_dir, Hiera(cfg.model), cfg, {"kind": "gpu check"})
    shutil.rmtree(out / "screened", ignore_errors=True)
    with Utilisation() as util:
        began = time.perf_counter()
        result = screen(model_dir, [str(video)], out / "screened", ScreenConfig())
        seconds = time.perf_counter() - began
    return {"measure": "screening", "preset": cfg.preset, "video_minutes": minutes, "seconds": round(seconds, 1), "windows": len(result.windows),
            "x_real_time": round(minutes * 60 / seconds, 1), **util.summary()}  # fmt: skip


def ddp_steps(cfg, steps: int, batch: int) -> dict | None:
    """Training steps with DDP over the processes torchrun started (``batch`` is the global batch)."""
    from spasmscope.model import distributed

    distributed.start_from_env()
    r = train_steps(cfg, steps, batch)
    r.update(measure="ddp train steps", processes=distributed.world())
    return r if distributed.is_main() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-check"))
    parser.add_argument("--small", action="store_true", help="a tiny model and a 20-s recording: checks the script, on a CPU too")
    parser.add_argument("--ddp", action="store_true", help="only the DDP training steps (run under torchrun)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cfg = _config(args.small)
    steps, batch = (4, 4) if args.small else (30, 32)
    if args.ddp:
        r = ddp_steps(cfg, steps, batch)
        if r is not None:
            print(json.dumps(r), flush=True)
            (args.out / "gpu_check_ddp.json").write_text(json.dumps(r))
        return
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    results = [{"measure": "machine", "device": device, "gpus": torch.cuda.device_count(), "torch": torch.__version__, "cpus": os.cpu_count()}]
    print(json.dumps(results[-1]), flush=True)
    for step in (lambda: train_steps(cfg, steps, batch), lambda: scoring_rate(cfg, batch * (1 if args.small else 4), 3 if args.small else 20),
                 lambda: screening(cfg, args.out, 1 / 3 if args.small else 10.0)):  # fmt: skip
        results.append(step())
        print(json.dumps(results[-1]), flush=True)
    scoring = next(r for r in results if r["measure"] == "scoring")
    (args.out / "gpu_check.json").write_text(json.dumps({"results": results, "score_s_per_window_gpu": scoring["score_s_per_window_gpu"], "device": device}))


if __name__ == "__main__":
    main()
