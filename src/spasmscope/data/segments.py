"""Segment arithmetic: the one segment length and the windows that cover a recording (METHOD §1, §6).

Pure functions; times are seconds from the recording's first shown frame.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

SEGMENT_S = 5.0  # the unit of annotation, training and scoring (METHOD §1); screening windows are this long too


def window_spans(duration: float, length: float = SEGMENT_S, hop: float = SEGMENT_S / 2) -> np.ndarray:
    """``[N, 2]`` (start, end) seconds of the windows that cover ``[0, duration]``: every ``hop`` seconds, plus a
    last window ending at ``duration`` when the hops leave the end uncovered. A recording shorter than
    ``length`` is one window ``[0, duration]``."""
    if duration <= 0 or length <= 0 or hop <= 0:
        raise ValueError(f"duration={duration}, length={length}, hop={hop}; each must be positive")
    if duration <= length:
        return np.array([[0.0, float(duration)]])
    n = int(math.floor((duration - length) / hop + 1e-9)) + 1
    starts = np.arange(n) * hop
    if starts[-1] + length < duration - 1e-9:
        starts = np.append(starts, duration - length)
    return np.stack([starts, starts + length], axis=1)


def consecutive_spans(duration: float, length: float = SEGMENT_S) -> list[tuple[float, float]]:
    """``[0, 5), [5, 10), ...`` seconds covering ``duration``; a last piece shorter than 1 s is dropped,
    and a video shorter than ``length`` is one span."""
    spans = [(s, min(s + length, duration)) for s in np.arange(0.0, duration, length)]
    spans = [(float(s), float(e)) for s, e in spans if e - s >= 1.0]
    return spans or [(0.0, float(duration))]


def overlapping(rows: pd.DataFrame, spans: pd.DataFrame) -> pd.DataFrame:
    """Each pair of a row (``video``, ``start``, ``end``; a segment or a window) and a span of the same video that
    overlaps it (``video``, ``onset``, ``offset``, any other columns kept): one row per pair, with ``row``, the row's
    position in ``rows``. Touching ends do not overlap."""
    pairs = rows[["video", "start", "end"]].reset_index(drop=True).rename_axis("row").reset_index().merge(spans, on="video")
    return pairs[(pairs["onset"] < pairs["end"]) & (pairs["offset"] > pairs["start"])]
