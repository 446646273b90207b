"""Screening one recording: one pass over its file, each 5-s window cut, gated and scored by the model.

Frames are decoded in order at a working size (no seeking), windows are cut from a ring buffer of the last
five seconds, so memory does not grow with the recording's length. Decoding, localisation and preprocessing
run in a producer thread (PyAV, OpenCV and torch release the interpreter lock while they work) while the model
scores the previous batch. ``screening.screen`` runs this over a list of recordings; ``screening.on_ray`` over
the chunks of a cluster.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pandas as pd
import torch

from spasmscope.data.video import VideoInfo
from spasmscope.data.windows import Window, in_background, windows_of
from spasmscope.model.config import RunConfig
from spasmscope.model.hiera import Hiera
from spasmscope.model.inference import device, score_clips
from spasmscope.model.scores import temper
from spasmscope.progress import Advance
from spasmscope.screening.runs import WINDOW_COLUMNS
from spasmscope.screening.screen import ScreenConfig

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def map_frame_buffers() -> None:
    """Make glibc map every allocation of 128 KiB or more and unmap it when freed. By default glibc raises that
    threshold after the first large free and serves later frame buffers from its heap, which fragments and stays
    at its peak: screening an hour then needed 20-40% more memory than a minute. No-op where libc is not glibc."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):
        pass


@torch.no_grad()
def score_windows(model: Hiera, run: RunConfig, batch: list[Window], cfg: ScreenConfig, temperature: float = 1.0) -> None:
    """Score ``batch`` (windows with clips; ``cfg.batch_size`` at most) with ``model`` on ``device()``: each row's
    ``score`` becomes the mean probability over its clips, tempered by the model's ``temperature``."""
    clips = [w.clip for w in batch]
    counts = [len(c) for c in clips]
    p = score_clips(model, np.concatenate(clips), cfg.flips(run))
    means = temper(np.array([chunk.mean() for chunk in np.split(p, np.cumsum(counts)[:-1])]), temperature)
    for w, score in zip(batch, means, strict=True):
        w.row["score"] = round(float(score), 6)


@torch.no_grad()
def screen_video(model: Hiera, run: RunConfig, info: VideoInfo, cfg: ScreenConfig, advance: Advance | None = None, temperature: float = 1.0) -> pd.DataFrame:
    """Screen one recording, as ``probe`` read it (``info``: ``screen`` probes every file once, before the model
    loads): one row per window (``WINDOW_COLUMNS``), scores for the valid ones.

    ``advance(n)`` (a ``progress.counter``) is called with the number of windows finished. Raises ``VideoError`` when the file cannot be
    opened at all; a file that breaks later gets its remaining windows marked unreadable.
    """
    map_frame_buffers()
    model.to(device()).eval()
    items = in_background(windows_of(info.path, info, cfg.windows, run.clip, cfg.windows.localiser()), depth=2 * cfg.batch_size)
    rows: list[dict] = []
    pending: list[Window] = []

    def flush() -> None:
        score_windows(model, run, pending, cfg, temperature)
        if advance is not None:
            advance(len(pending))
        pending.clear()

    try:
        for item in items:
            rows.append(item.row)
            if item.clip is not None:
                pending.append(item)
            elif advance is not None:
                advance(1)
            if len(pending) >= cfg.batch_size:
                flush()
        if pending:
            flush()
    finally:
        items.close()
    return pd.DataFrame(rows, columns=WINDOW_COLUMNS)
