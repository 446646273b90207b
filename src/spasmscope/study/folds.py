"""Child-level folds (METHOD §5): every segment of a child in one test fold, children with spasms spread evenly,
train-only cohorts in every training fold and in no test fold. Pure functions of the manifest table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spasmscope.errors import InputError, SettingError

TRAIN_ONLY = -1  # fold of a train-only row: it is in every training fold and never tested
FOLDS = 5  # the paper's child-level folds: `cv`'s default, and the demo's


def check_fold_count(k: int, children: int | None = None) -> None:
    """``k`` folds are at least 2, and ``children`` with spasms (when known before a cohort is read or drawn) are
    enough to test one in each, or a ``SettingError``."""
    if k < 2:
        raise SettingError(f"folds={k}", "cross-validation needs at least 2 folds")
    if children is not None and children < k:
        raise SettingError(f"children={children}", f"{k}-fold cross-validation tests at least one child with spasms in each fold: ask for {k} or more")


def assign_folds(rows: pd.DataFrame, k: int, train_only: tuple[str, ...], seed: int) -> pd.Series:
    """Fold (0..k-1, or ``TRAIN_ONLY``) of each row of ``rows`` (columns ``child``, ``label``, optional ``cohort``).

    Children with at least one spasm segment and children without are each shuffled (seeded) and dealt round
    robin, so every fold gets ``n // k`` or ``n // k + 1`` children of each kind. Raises ``ValueError`` when
    there are fewer than ``k`` children with spasms to test.
    """
    cohort = rows["cohort"].astype(str) if "cohort" in rows else pd.Series("", index=rows.index)
    only = cohort.isin(train_only)
    tested = rows[~only]
    has_spasm = tested.groupby("child")["label"].max().astype(int)
    if (has_spasm == 1).sum() < k:
        raise ValueError(f"{(has_spasm == 1).sum()} children with spasms outside the train-only cohorts; {k}-fold cross-validation needs at least {k}")
    rng = np.random.default_rng(seed)
    fold_of: dict[str, int] = {}
    offset = 0
    for kind in (1, 0):
        children = sorted(has_spasm.index[has_spasm == kind], key=str)
        children = [children[i] for i in rng.permutation(len(children))]
        for j, child in enumerate(children):
            fold_of[child] = (offset + j) % k
        offset += len(children)  # the next kind continues the deal where this one stopped
    folds = rows["child"].map(fold_of)
    folds[only] = TRAIN_ONLY
    return folds.astype(int)


def manifest_folds(rows: pd.DataFrame, path: Path, k: int, train_only: tuple[str, ...], seed: int) -> pd.Series:
    """``assign_folds`` of the rows of the manifest at ``path``; its refusal is that manifest's one-line error."""
    try:
        return assign_folds(rows, k, train_only, seed)
    except ValueError as e:
        raise InputError(path, str(e), "add children with spasms or use fewer --folds") from None


def fold_rows(folds: pd.Series, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions (``iloc``) of the training and the test rows of ``fold``."""
    values = folds.to_numpy()
    return np.flatnonzero(values != fold), np.flatnonzero(values == fold)
