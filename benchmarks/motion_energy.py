"""How much each movement changes the picture, renderer by renderer: is one renderer's spasm-free movement larger,
against its spasms, than the others'? A backbone that learnt "much movement means a spasm" on some renderers would
take another's movements for spasms if they were.

    .venv/bin/python benchmarks/motion_energy.py [--clips 600] [--seed 9]

Draws the first ``--clips`` clips of a pretraining stream (``synth.stream``, startles in 30% of the spasm-free clips)
once per renderer, keeps the close views by day on a tripod (no camera movement, no infrared), and measures each
clip as the model sees it (16 frames, 64 x 64, grey): ``energy``, the mean absolute change between consecutive frames
(grey levels), and ``area``, the share of pixels that change by more than 8 grey levels at some step. A clip with a
spasm counts as ``spasm``; a spasm-free clip counts once for every other movement under way in it (``kick``,
``startle``, ...) or as ``none``. Prints one JSON line per renderer: per group, the clips and the medians, and each
movement's median energy over the spasms' (``ratio``).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from spasmscope.model.config import preset
from spasmscope.synth.motion import MOVEMENT_KINDS
from spasmscope.synth.renderers import ALL_NAMES
from spasmscope.synth.stream import StreamConfig, plan_clip, sample_clip

CHANGED = 8.0  # grey levels: a pixel changed by more than this at some step counts in ``area``


def clip_energy(clip: np.ndarray) -> tuple[float, float]:
    """``clip`` ``[T, S, S, 3] uint8`` -> (mean absolute change between consecutive grey frames, grey levels; share
    of pixels that change by more than ``CHANGED`` at some step)."""
    change = np.abs(np.diff(clip.astype(np.float32).mean(axis=-1), axis=0))
    return float(change.mean()), float((change.max(axis=0) > CHANGED).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=600, help="stream clips planned per renderer (about 1 in 5 is kept)")
    ap.add_argument("--seed", type=int, default=9, help="the stream's seed")
    args = ap.parse_args()
    clip = preset("cpu").clip
    for name in ALL_NAMES:
        stream = StreamConfig(seed=args.seed, renderers=(name,), startle_rate=0.3)
        groups: dict[str, list[tuple[float, float]]] = {}
        for i in range(args.clips):
            plan = plan_clip(stream, i, clip)
            if plan.rec.wide or plan.rec.night or plan.rec.handheld:
                continue
            drawn = sample_clip(stream, i, clip)
            measured = clip_energy(drawn.clip[0])
            kinds = [k for j, k in enumerate(MOVEMENT_KINDS) if drawn.movements[:, j].any()]
            for key in ["spasm"] if drawn.label else kinds or ["none"]:
                groups.setdefault(key, []).append(measured)
        spasm = float(np.median([e for e, _ in groups.get("spasm", [(np.nan, np.nan)])]))
        summary = {}
        for key, values in sorted(groups.items()):
            energy = float(np.median([e for e, _ in values]))
            summary[key] = {"clips": len(values), "energy": round(energy, 3), "area": round(float(np.median([a for _, a in values])), 3), "ratio": round(energy / spasm, 2)}
        print(json.dumps({"renderer": name, "stream_seed": args.seed, "groups": summary}), flush=True)


if __name__ == "__main__":
    main()
