"""A study run folder's own files, and what a finished run is checked for before torch loads."""

from __future__ import annotations

import json
from pathlib import Path

from spasmscope.errors import InputError
from spasmscope.model.config import RunConfig

RUN_FILE = "run.json"
PREDICTIONS_FILE = "predictions.csv"
METRICS_FILE = "metrics.json"
REPORT_FILE = "report.html"
# Table 1 of the run's cohorts (``study.table1``): each video measured, the cohorts summarised, and the factors of errors
CHARACTERISTICS_FILE = "characteristics.csv"
TABLE1_FILE = "table1.csv"
FACTORS_FILE = "factors.json"


def check_cv_run(run: Path, cfg: RunConfig) -> None:
    """``run`` is a finished ``cv`` run folder made with ``cfg``, or a one-line error: a temperature fits the recipe
    whose scores it was fitted on."""
    meta = json.loads((run / RUN_FILE).read_text()) if (run / RUN_FILE).is_file() else {}
    if not (run / PREDICTIONS_FILE).is_file() or meta.get("command") != "cv":
        raise InputError(run, "is not a finished cv run (no predictions.csv and run.json of `spasmscope cv`)", "give the --out folder of a finished `spasmscope cv`")
    if meta["config"] != json.loads(json.dumps(cfg.as_dict())):
        raise InputError(run, "was made with another config than this model's", "calibrate with a cv run of the same preset, --config and options")
