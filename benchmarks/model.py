"""Time and memory per clip of one training step and one scoring pass, for the ``cpu`` and ``paper`` presets,
with random weights. Prints one JSON object and, with ``--write``, appends a dated entry to BENCHMARKS.md.

    .venv/bin/python benchmarks/model.py [--presets cpu paper] [--batch 1 4] [--write]

Each measurement runs in a fresh process, so its peak resident memory (``ru_maxrss``) is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path


def measure(preset_name: str, batch: int, mode: str, repeats: int) -> dict:
    """In this process: seconds per clip (median over ``repeats`` after one warm-up) and peak RSS in MiB."""
    import torch

    from spasmscope.model.config import preset
    from spasmscope.model.hiera import Hiera

    cfg = preset(preset_name)
    torch.manual_seed(0)
    model = Hiera(cfg.model)
    x = torch.randn(batch, 3, *cfg.model.input_size)
    y = torch.ones(batch)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    times = []
    for _ in range(repeats + 1):
        began = time.perf_counter()
        if mode == "train":
            model.train()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        else:
            model.eval()
            with torch.no_grad():
                model(x)
        times.append(time.perf_counter() - began)
    per_clip = sorted(times[1:])[len(times[1:]) // 2] / batch
    return {
        "preset": preset_name, "mode": mode, "batch": batch, "seconds_per_clip": round(per_clip, 4), "clips_per_s": round(1 / per_clip, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2), "input": list(cfg.model.input_size),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presets", nargs="+", default=["cpu", "paper"])
    ap.add_argument("--batch", nargs="+", type=int, default=[1, 4])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="append the figures to BENCHMARKS.md")
    ap.add_argument("--one", nargs=3, metavar=("PRESET", "BATCH", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args.one[2], args.repeats)))
        return
    import torch

    rows = []
    for name in args.presets:
        for batch in args.batch:
            for mode in ("score", "train"):
                out = subprocess.run([sys.executable, __file__, "--one", name, str(batch), mode, "--repeats", str(args.repeats)], capture_output=True, text=True, check=True)
                rows.append(json.loads(out.stdout))
                print(json.dumps(rows[-1]), file=sys.stderr)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads, CPU"
    result = {"date": date.today().isoformat(), "machine": machine, "command": "python benchmarks/model.py " + " ".join(sys.argv[1:]), "results": rows}
    print(json.dumps(result, indent=1))
    if args.write:
        lines = [f"\n## {result['date']}: model step and scoring pass per clip (random weights)", "", f"Machine: {machine}. Command: `{result['command']}`.", "",
                 "| preset | input | parameters (M) | batch | pass | s per clip | clips/s | peak RSS (MiB) |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in rows:
            what = "training step (forward + backward + Adam)" if r["mode"] == "train" else "scoring (forward, no grad)"
            lines.append(f"| {r['preset']} | {'x'.join(map(str, r['input']))} | {r['parameters_m']} | {r['batch']} | {what} | {r['seconds_per_clip']} | {r['clips_per_s']} | {r['peak_rss_mib']} |")
        path = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
        head = "" if path.exists() else "# Benchmarks\n\nDated entries, newest last; each names its machine and command.\n"
        with open(path, "a") as f:
            f.write(head + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
