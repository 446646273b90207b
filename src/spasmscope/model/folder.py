"""The files a spasmscope model folder holds, by name, and the weights ``--weights`` names. Kept apart from
``weights`` so that what only reads a folder's files (``benchmarks/backbone_step.py``, run before every pretraining
stage) or checks a command's arguments does not wait for torch."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from spasmscope.errors import InputError

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"

# The sources ``--weights`` names by word (random weights, the shipped backbone, the official download); anything
# else is a path.
NAMED_WEIGHTS = ("none", "default", "hub")


def check_weights(spec: str | None, preset: str | None = None) -> None:
    """Refuse a ``--weights`` path that does not exist (``spec`` None or a named source passes), and no ``--weights``
    for the ``paper`` preset (fine-tuning a random Hiera-B would not be the paper's method): a command calls it before
    torch loads, so a mistake is told at once."""
    if spec is None and preset == "paper":
        raise InputError(
            None, "the paper preset fine-tunes the Kinetics-400 Hiera-B weights, and none were given",
            "pass --weights hub (downloads 200 MB once, CC BY-NC 4.0), --weights FILE.pth, or --weights none to start from random weights",
        )  # fmt: skip
    if spec is not None and spec not in NAMED_WEIGHTS and not Path(spec).exists():
        raise InputError(Path(spec), "weights not found", "give an official Hiera .pth file, a folder with config.json and model.safetensors, 'hub' or 'none'")


def read_model_config(folder: str | os.PathLike) -> dict[str, Any]:
    """The ``config.json`` of a spasmscope model folder, or an ``InputError`` saying what the folder lacks."""
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not (folder / MODEL_FILE).is_file() or not path.is_file():
        raise InputError(folder, f"is not a spasmscope model (needs {MODEL_FILE} and {CONFIG_FILE})", "give the --out folder of `spasmscope train`")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):  # a copy cut short, or another file under the name
        meta = {}
    if not isinstance(meta, dict) or "spasmscope" not in meta:
        raise InputError(path, "is not a spasmscope model config", "give the --out folder of `spasmscope train`")
    return meta
