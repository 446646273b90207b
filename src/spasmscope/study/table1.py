"""Table 1 of a run and its factor analysis (METHOD §7): the videos measured, summarised per cohort, and video
quality set against the run's false alarms."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from spasmscope import atomic
from spasmscope.data.cache import SegmentCache
from spasmscope.data.characteristics import characterise, cohort_table
from spasmscope.data.manifest import Manifest
from spasmscope.progress import Progress
from spasmscope.study.factors import factor_analysis
from spasmscope.study.runs import CHARACTERISTICS_FILE, FACTORS_FILE, PREDICTIONS_FILE, TABLE1_FILE


def write_table1(manifest: Manifest, out: Path, threshold: float, workers: int | None = None, progress: Progress | None = None,
                 cache: SegmentCache | None = None) -> None:  # fmt: skip
    """Measure the videos of ``manifest`` and write ``characteristics.csv``, ``table1.csv`` and ``factors.json``
    into the run folder ``out``, whose ``predictions.csv`` is already written. ``cache`` holds the run's prepared
    segments: the localiser's visibility is read from it where it was kept, not found again."""
    localised = cache.localised(manifest) if cache is not None else None
    table, _ = characterise(manifest.videos, manifest=manifest, workers=workers, progress=progress, localised=localised)
    atomic.write_csv(out / CHARACTERISTICS_FILE, table)
    atomic.write_csv(out / TABLE1_FILE, cohort_table(table))
    predictions = pd.read_csv(out / PREDICTIONS_FILE, keep_default_na=False, na_values=[""])
    atomic.write_json(out / FACTORS_FILE, json.loads(json.dumps(factor_analysis(predictions, table, threshold), default=float)))
