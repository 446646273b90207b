"""The recipes of pretraining, checked when they are made. Kept apart from the loops that run them, so that a command
refuses a bad setting before torch loads."""

from __future__ import annotations

from dataclasses import dataclass

from spasmscope.errors import SettingError


@dataclass(frozen=True)
class PretrainConfig:
    """The recipe of a supervised pretraining run."""

    steps: int = 2000  # optimiser steps
    batch_size: int = 32
    lr: float = 1e-3  # peak learning rate, after the warm-up
    warmup: int = 100  # steps of linear warm-up (a transformer from random weights needs it)
    weight_decay: float = 0.05  # AdamW
    grad_clip: float = 1.0  # max gradient norm
    seed: int = 0  # initialisation and the training stream's seed
    val_clips: int = 256
    eval_every: int = 100  # steps between validation, log line and checkpoint
    curriculum: float = 0.5  # share of the steps over which easy clips fall from all to easy_floor
    easy_floor: float = 0.2  # share of easy clips after the curriculum
    dense_weight: float = 1.0  # weight of the per-frame contraction and pose losses beside the clip's label
    pose_scale: float = 0.25  # radians: the joint-angle targets are divided by it (about their spread)
    augment_p: float = 0.0  # probability of each of the paper's augmentations (flips, quarter turn, inversion) per clip
    colour_p: float = 0.0  # probability of a clip's brightness, contrast and saturation being changed (ColourJitter)
    zoom_p: float = 0.0  # probability of a clip being shown as from a farther camera (Zoom)
    degrade_p: float = 0.0  # probability of a clip getting sensor noise, a soft lens and an H.264 round trip (Degradation)
    texture_p: float = 0.0  # probability of a clip's surfaces being refiltered by a random convolution (Texture)
    # Weight of the pull between the pooled features of one movement drawn by two renderers (``StreamClips``); 0: off.
    # With a renderer held out, the backbone tells stillness from movement as well as with it seen, and one movement
    # from another worse (MODEL_CARD.md): what a movement is should not depend on who drew it.
    invariance: float = 0.0
    # Weight of a per-frame target naming the movements under way that are not a spasm (``MOVEMENT_KINDS``: kicks,
    # turns, a parent's hand, startles, the mimics ...); 0: off. With a renderer held out the backbone tells a spasm
    # from each movement worse than from stillness (MODEL_CARD.md); the generator knows which movement is which.
    movement: float = 0.0

    def __post_init__(self) -> None:
        if min(self.steps, self.batch_size, self.eval_every, self.val_clips) < 1 or self.warmup < 0:
            raise SettingError(f"steps={self.steps}, batch_size={self.batch_size}, eval_every={self.eval_every}, val_clips={self.val_clips}", "each must be at least 1")
        if not self.lr > 0:
            raise SettingError(f"lr={self.lr}", "the learning rate must be positive")
        if not (0 <= self.curriculum <= 1 and 0 <= self.easy_floor <= 1):
            raise SettingError(f"curriculum={self.curriculum}, easy_floor={self.easy_floor}", "each is a share of 0 to 1")
        for name in ("augment_p", "colour_p", "zoom_p", "degrade_p", "texture_p"):
            if not 0 <= getattr(self, name) <= 1:
                raise SettingError(f"{name}={getattr(self, name)}", "an augmentation probability is a share of 0 to 1")
        if self.movement < 0:
            raise SettingError(f"movement={self.movement}", "the weight is 0 or more")
        if self.invariance < 0 or (self.invariance > 0 and self.batch_size % 2):
            raise SettingError(f"invariance={self.invariance}, batch_size={self.batch_size}", "the weight is 0 or more, and pairs need an even batch")


def check_pairs(cfg: PretrainConfig, renderers: tuple[str, ...]) -> None:
    """Refuse ``cfg.invariance`` with fewer than two renderers: the pull needs each movement drawn by two."""
    if cfg.invariance > 0 and len(set(renderers)) < 2:
        raise SettingError(f"invariance={cfg.invariance}, renderers={list(renderers)}", "drawing each movement twice needs at least two renderers (--renderers a,b)")


@dataclass(frozen=True)
class MaeConfig:
    """The recipe of an MAE pretraining run."""

    steps: int = 1000  # optimiser steps
    batch_size: int = 16
    lr: float = 3e-4  # peak, AdamW with linear warm-up and cosine decay
    warmup: int = 50
    weight_decay: float = 0.05  # AdamW, on matrices and kernels (model.loop.decays)
    grad_clip: float = 1.0  # max gradient norm
    mask_ratio: float = 0.75  # share of mask units hidden (Hiera video: 0.9; a 64-pixel clip has only 32 units)
    decoder_dim: int = 128
    decoder_depth: int = 2
    decoder_heads: int = 4
    target_pool: int = 4  # each hidden unit's pixels are averaged in pool x pool blocks before normalising
    seed: int = 0
    eval_every: int = 50  # steps between log lines and checkpoints

    def __post_init__(self) -> None:
        if not 0 < self.mask_ratio < 1:
            raise SettingError(f"mask_ratio={self.mask_ratio}", "hide a share of the mask units strictly between 0 and 1")
        if min(self.steps, self.batch_size, self.eval_every, self.decoder_depth) < 1 or not self.lr > 0:
            raise SettingError(f"steps={self.steps}, batch_size={self.batch_size}, lr={self.lr}", "each must be positive")
