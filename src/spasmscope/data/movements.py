"""Movements that are not spasms (a kick, a turn, a startle...), and what a detector's scores make of each: the rows
(segments or windows) that hold each kind, how many reach a threshold, and the AUC of the spasm rows against them.
Pure functions of tables; ``manifest.read_movements`` reads the CSV that ``synth`` writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from spasmscope.data.segments import overlapping


def spasm_against_movements(table: pd.DataFrame, movements: pd.DataFrame, threshold: float) -> dict:
    """What the scores make of each movement that is not a spasm. ``table`` has one row per scored segment or window
    (``video``, ``start``, ``end``, ``label`` 0/1, ``score``); ``movements`` one row per movement (``video``, ``kind``,
    ``onset``, ``offset``; seconds), as ``synth`` writes ``movements.csv``. A spasm-free row counts under every kind
    it overlaps, or under ``none`` when it overlaps none. Per kind: its rows (``n``), how many score at or above
    ``threshold`` (``at_threshold``), and the AUC of all spasm rows against its rows (None where a side is empty)."""
    rows = table.reset_index(drop=True)
    pairs = overlapping(rows, movements[["video", "kind", "onset", "offset"]])
    free = rows["label"].to_numpy() == 0
    spasm = rows["score"].to_numpy()[~free]
    kinds_of: dict[str, set[int]] = {}
    for kind, group in pairs.groupby("kind"):
        kinds_of[str(kind)] = {i for i in group["row"] if free[i]}
    moved = set(pairs["row"])
    kinds_of["none"] = {i for i in np.flatnonzero(free) if i not in moved}
    out = {}
    for kind, members in sorted(kinds_of.items()):
        other = rows["score"].to_numpy()[sorted(members)]
        auc = roc_auc_score([1] * len(spasm) + [0] * len(other), [*spasm, *other]) if len(spasm) and len(other) else None
        out[kind] = {"n": len(other), "at_threshold": int((other >= threshold).sum()), "auc": None if auc is None else float(auc)}
    return {"threshold": threshold, "n_spasm": len(spasm), "by_kind": out}
