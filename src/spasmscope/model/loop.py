"""What every training loop shares: the JSON-lines log, resuming, the warm-up + cosine schedule, weight decay by
parameter kind, gradient clipping and the stop on a non-finite loss.

The fine-tuning loop (``study.train``) and both pretraining loops (``pretrain.supervised``, ``pretrain.mae``) read
top to bottom and call these, so a change to any of them reaches all three.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spasmscope import atomic
from spasmscope.errors import InputError
from spasmscope.model.config import default_settings


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Torch's intra-op threads set to ``n`` inside the block and put back after it; ``None`` leaves them as they are."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def append_record(log: Path, record: dict[str, Any]) -> None:
    """Append ``record`` to the JSON-lines ``log``: one line per epoch or evaluation, so a killed run keeps the
    lines it finished."""
    with open(log, "a") as f:
        f.write(json.dumps(record) + "\n")


def last_record(log: Path) -> dict[str, Any]:
    """The last line of a JSON-lines log as a dict; ``{}`` when there is no log or it is empty."""
    if not log.exists():
        return {}
    lines = log.read_text().splitlines()
    return json.loads(lines[-1]) if lines else {}


def warmup_cosine(peak: float, warmup: int, steps: int, step: int) -> float:
    """Linear warm-up to ``peak`` over ``warmup`` steps, then cosine decay to 0 at ``steps`` (``step`` counted
    from 0)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def decays(name: str, p: nn.Parameter) -> bool:
    """Whether weight decay applies to parameter ``name``: to matrices and kernels, not to norms, biases or position
    embeddings (decaying those pulls a layer's scale and the token positions towards zero, which no prior asks)."""
    return p.ndim >= 2 and "pos_embed" not in name


def param_groups(named: Iterable[tuple[str, nn.Parameter]], weight_decay: float) -> list[dict[str, Any]]:
    """Optimiser groups of the trainable parameters in ``named``: those that ``decays`` with ``weight_decay``, the
    rest with none. Empty groups are left out."""
    named = [(n, p) for n, p in named if p.requires_grad]
    groups = [
        {"params": [p for n, p in named if decays(n, p)], "weight_decay": weight_decay},
        {"params": [p for n, p in named if not decays(n, p)], "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def check_finite(loss: torch.Tensor, where: str) -> None:
    """Stop a run whose loss stopped being finite; ``where`` names the epoch or step."""
    if not torch.isfinite(loss):
        raise InputError(None, f"training loss became {loss.item()} at {where}", "lower the learning rate (--lr) or check the input clips")


def update(optimizer: torch.optim.Optimizer, loss: torch.Tensor, params: list[nn.Parameter], grad_clip: float) -> None:
    """Backward pass, gradients clipped to norm ``grad_clip`` (0: not clipped), optimiser step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()


def same_settings(saved: dict, now: dict, defaults: dict) -> bool:
    """Whether the settings ``saved`` with a run are ``now``'s, a setting missing from ``saved`` read as its value in
    ``defaults``: a newer spasmscope adds settings whose defaults keep the old behaviour, so a run begun before one
    existed, resumed with it at its default, is the same run. A setting ``now`` lacks is a difference."""
    if saved.keys() - now.keys():
        return False
    for key, value in now.items():
        if key not in saved:
            if key not in defaults or defaults[key] != value:
                return False
        elif isinstance(value, dict) and isinstance(saved[key], dict):
            inner = defaults.get(key)
            if not same_settings(saved[key], value, inner if isinstance(inner, dict) else {}):
                return False
        elif saved[key] != value:
            return False
    return True


def save_resume(path: Path, step: int, parts: dict[str, Any], optimizer: torch.optim.Optimizer, recipe: dict, config: dict) -> None:
    """A run's state after ``step`` (modules by name, optimiser, recipe, config), written atomically."""
    with atomic.atomic_path(path) as tmp:
        torch.save({"step": step, **{k: m.state_dict() for k, m in parts.items()}, "optimizer": optimizer.state_dict(), "recipe": recipe, "config": config}, tmp)


def load_resume(
    path: Path, parts: dict[str, Any], optimizer: torch.optim.Optimizer, recipe: dict, config: dict, what: str, recipe_defaults: dict | None = None
) -> int:
    """Restore a run saved by ``save_resume`` into ``parts`` and ``optimizer``; returns its step (0 without a
    file). A file of another recipe or config is refused: resuming it would mix two runs. A setting the saved file
    predates counts as its default (``same_settings``): the recipe's from ``recipe_defaults`` (shaped as ``recipe``),
    the config's from ``config.default_settings``. Loads no code."""
    if not path.exists():
        return 0
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not same_settings(state["recipe"], recipe, recipe_defaults or {}) or not same_settings(state["config"], config, default_settings()):
        raise InputError(path.parent, f"holds {what} with another recipe", "use a new --out folder, or delete this one to start over")
    for k, m in parts.items():
        m.load_state_dict(state[k])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"])
