"""The one place where model logits become probabilities, and where probabilities are tempered.

A temperature ``T`` fitted on cross-validated predictions (``fit_temperature``) travels with a model in its
``config.json``; scoring divides the logit of each probability by it, so a model that is too sure of itself
(``T > 1``) or too shy (``T < 1``) says what its scores mean. ``T = 1`` changes nothing.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit

EDGE = 1e-6  # probabilities are kept this far from 0 and 1 before their logit is taken


def probability(logits: torch.Tensor) -> torch.Tensor:
    """Spasm probability ``sigmoid(logit)``, elementwise; same shape as ``logits``."""
    return torch.sigmoid(logits.float())


def temper(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """``sigmoid(logit(p) / T)``, elementwise; ``T = 1`` returns ``p`` as it is."""
    p = np.asarray(probabilities, dtype=np.float64)
    if temperature == 1.0:
        return p
    return expit(logit(np.clip(p, EDGE, 1 - EDGE)) / temperature)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The ``T`` that minimises the log-loss of ``temper(p, T)`` against 0/1 ``labels`` (``[n]`` each), searched
    over ``log T`` in [-3, 3]; 1.0 when the labels hold one class only."""
    y = np.asarray(labels, dtype=np.float64)
    if y.min() == y.max():
        return 1.0
    z = logit(np.clip(np.asarray(probabilities, dtype=np.float64), EDGE, 1 - EDGE))

    def loss(log_t: float) -> float:
        q = np.clip(expit(z / np.exp(log_t)), EDGE, 1 - EDGE)
        return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))

    return float(np.exp(minimize_scalar(loss, bounds=(-3.0, 3.0), method="bounded").x))
