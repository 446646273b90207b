"""Screening on a Ray cluster (``screen --ray``): recordings, and long ones in chunks, are cut into windows by
CPU tasks and scored by a pool of actors that each hold the model once (a GPU each where the cluster has GPUs).

A chunk is a run of consecutive windows, ``chunk_minutes`` of them; the chunks of a recording partition its
windows (``chunks``), so every window is computed once. A chunk's localiser first watches the windows before it
that a front-to-back pass would still remember (``windows.windows_of``), so crops and visibility are the serial
run's. Scoring is ``recording.score_windows``, the serial run's, on batches of ``ScreenConfig.batch_size``.

The driver collects a recording's chunks and hands back its table once all are in; the caller writes it, so a
recording's ``windows.csv`` is written once, whole, or not at all. A chunk that fails (a worker killed, a file
gone) is computed once more; a second failure skips its recording, and the rest goes on.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from spasmscope import cluster
from spasmscope.data.preprocess import ClipConfig
from spasmscope.data.segments import SEGMENT_S, window_spans
from spasmscope.data.video import VideoInfo
from spasmscope.data.windows import Window, WindowConfig, windows_of
from spasmscope.progress import Advance
from spasmscope.screening.recording import map_frame_buffers, score_windows
from spasmscope.screening.runs import WINDOW_COLUMNS
from spasmscope.screening.screen import ScreenConfig

ATTEMPTS = 2  # a chunk is computed at most twice


@dataclass(frozen=True)
class Chunk:
    """Windows ``first..stop-1`` of one recording."""

    path: str
    first: int
    stop: int


def chunks(infos: dict[str, VideoInfo], hop: float, chunk_minutes: float) -> list[Chunk]:
    """Every recording's windows (``window_spans``) in runs of ``chunk_minutes`` of window starts, in order."""
    per_chunk = max(1, math.floor(chunk_minutes * 60 / hop + 1e-9))
    out = []
    for path, info in infos.items():
        n = len(window_spans(info.duration, SEGMENT_S, hop))
        out += [Chunk(path, a, min(a + per_chunk, n)) for a in range(0, n, per_chunk)]
    return out


def _cut(info: VideoInfo, cfg: WindowConfig, clip: ClipConfig, first: int, stop: int) -> list[Window]:
    """A chunk's windows with their clips (a CPU task)."""
    cluster.visible([info.path])
    map_frame_buffers()
    return list(windows_of(info.path, info, cfg, clip, cfg.localiser(), first, stop))


class Scorer:
    """Holds a model once and scores chunks (an actor)."""

    def __init__(self, model_dir: Path):
        import torch

        from spasmscope.model.inference import device
        from spasmscope.model.weights import load_model

        cluster.visible([model_dir])
        self.model, self.run, meta = load_model(model_dir)
        self.model.to(device()).eval()
        self.temperature = meta.get("temperature", 1.0)
        torch.set_grad_enabled(False)

    def score(self, windows: list[Window], cfg: ScreenConfig) -> list[dict]:
        valid = [w for w in windows if w.clip is not None]
        for i in range(0, len(valid), cfg.batch_size):
            score_windows(self.model, self.run, valid[i : i + cfg.batch_size], cfg, self.temperature)
        return [w.row for w in windows]


def recordings_on_ray(address: str, model_dir: Path, infos: dict[str, VideoInfo], cfg: ScreenConfig, clip: ClipConfig, chunk_minutes: float,
                      advance: Advance | None = None) -> Iterator[tuple[str, pd.DataFrame | str]]:  # fmt: skip
    """Screen ``infos``'s recordings on the Ray cluster at ``address``; yields ``(path, windows table)`` as each
    recording is finished, or ``(path, reason)`` for one that failed twice. ``advance`` counts finished windows."""
    ray = cluster.connect(address)
    gpus, cpus = cluster.resources(ray)
    # A scorer per GPU; on CPUs, half of them score and the rest cut windows (a scorer that reserved the only CPU
    # would leave none for cutting).
    scorers = gpus or max(1, cpus // 2)
    actor = ray.remote(num_gpus=1) if gpus else ray.remote(num_cpus=1 if cpus >= 2 else 0)
    # A scorer whose process dies comes back, and the call it was running runs again there once the model is loaded
    # (a call sent to it while it restarts would otherwise fail at once).
    pool = [actor(Scorer).options(max_restarts=-1, max_task_retries=1).remote(model_dir) for _ in range(scorers)]
    cut = ray.remote(num_cpus=1, max_retries=0)(_cut)
    todo = chunks(infos, cfg.windows.hop, chunk_minutes)
    parts: dict[str, dict[int, list[dict]]] = {p: {} for p in infos}
    left = {p: sum(1 for c in todo if c.path == p) for p in infos}
    failed: set[str] = set()
    inflight: dict = {}
    limit = 2 * max(cpus, scorers)  # chunks in flight: enough to keep every worker busy, few enough for memory
    queue = [(c, 1) for c in reversed(todo)]
    submitted = 0
    while queue or inflight:
        while queue and len(inflight) < limit:
            chunk, attempt = queue.pop()
            if chunk.path in failed:
                continue
            windows = cut.remote(infos[chunk.path], cfg.windows, clip, chunk.first, chunk.stop)
            inflight[pool[submitted % len(pool)].score.remote(windows, cfg)] = (chunk, attempt)
            submitted += 1
        if not inflight:
            break
        (ready,), _ = ray.wait(list(inflight), num_returns=1)
        chunk, attempt = inflight.pop(ready)
        try:
            rows = ray.get(ready)
        except ray.exceptions.RayError as e:
            if attempt < ATTEMPTS:
                queue.append((chunk, attempt + 1))
            elif chunk.path not in failed:
                failed.add(chunk.path)
                yield chunk.path, f"failed twice on Ray, windows {chunk.first}-{chunk.stop - 1} ({_reason(e)}); screen it again to retry"
            continue
        if chunk.path in failed:
            continue
        parts[chunk.path][chunk.first] = rows
        if advance is not None:
            advance(chunk.stop - chunk.first)
        left[chunk.path] -= 1
        if left[chunk.path] == 0:
            rows = [r for first in sorted(parts[chunk.path]) for r in parts[chunk.path].pop(first)]
            yield chunk.path, pd.DataFrame(rows, columns=WINDOW_COLUMNS)


def _reason(error: Exception) -> str:
    cause = getattr(error, "cause", None)
    text = str(cause if cause is not None else error).strip().splitlines()
    return f"{type(cause or error).__name__}: {text[0] if text else ''}"
