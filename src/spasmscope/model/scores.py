"""The one place where model logits become probabilities."""

from __future__ import annotations

import torch


def probability(logits: torch.Tensor) -> torch.Tensor:
    """Spasm probability ``sigmoid(logit)``, elementwise; same shape as ``logits``."""
    return torch.sigmoid(logits.float())
