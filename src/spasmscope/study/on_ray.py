"""Cross-validation folds as Ray tasks (``cv --ray``): each unfinished fold is one task, with a GPU where the
cluster has GPUs and one CPU otherwise. A task runs ``validate.run_fold``, the serial loop's own fold, on the
run folder itself, so the folder is what a serial run writes and each fold's predictions are the serial run's.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from spasmscope import cluster
from spasmscope.errors import InputError
from spasmscope.model.config import RunConfig
from spasmscope.progress import Progress, counter
from spasmscope.study.validate import Segments, run_fold

RETRIES = 1  # a fold whose worker dies is run once more, then reported


def _fold_task(segs: Segments, folds: pd.Series, fold: int, k: int, cfg: RunConfig, weights: str, out: Path) -> pd.DataFrame:
    cluster.visible([segs.cache.root, out, segs.rows['path'].iloc[0]])
    return run_fold(segs, folds, fold, k, cfg, weights, out)


def folds_on_ray(address: str, segs: Segments, folds: pd.Series, todo: list[int], k: int, cfg: RunConfig, weights: str, out: Path,
                 progress: Progress | None = None) -> dict[int, pd.DataFrame]:  # fmt: skip
    """Run the folds ``todo`` (0-based) of ``folds`` on the Ray cluster at ``address``; returns their predictions
    by fold. ``progress`` counts finished folds (stage ``folds on Ray``)."""
    ray = cluster.connect(address)
    task = ray.remote(num_cpus=1, num_gpus=cluster.gpus_per_job(ray), max_retries=RETRIES)(_fold_task)
    shared = ray.put(segs)  # one copy of the rows and the cache's address for every task
    pending = {task.remote(shared, folds, fold, k, cfg, weights, out): fold for fold in todo}
    advance = counter(progress, "folds on Ray", len(todo))
    parts, failed = {}, []
    while pending:
        (ready,), _ = ray.wait(list(pending), num_returns=1)
        fold = pending.pop(ready)
        try:
            parts[fold] = ray.get(ready)
        except ray.exceptions.RayTaskError as e:
            if isinstance(e.cause, InputError):
                raise e.cause from None
            failed.append(f"fold {fold + 1} ({type(e.cause).__name__}: {e.cause})")
        except ray.exceptions.RayError as e:  # its worker died twice
            failed.append(f"fold {fold + 1} ({type(e).__name__})")
        advance()
    if failed:
        raise InputError(out, f"failed on Ray: {'; '.join(failed)}", "run the same command again: the finished folds are kept")
    return parts
