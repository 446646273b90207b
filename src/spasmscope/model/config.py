"""Run configuration: the model, clip and training settings of a preset, changed by one TOML file and CLI options.

A resolved ``RunConfig`` is written next to every checkpoint and run, so a model can be rebuilt from its folder
alone and a run says exactly how it was made (METHOD §4, STYLE 2 and 7).
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from spasmscope.data.preprocess import ClipConfig
from spasmscope.errors import InputError, SettingError
from spasmscope.model.architecture import HieraConfig, variant

OPTIMIZERS = ("adam", "adamw", "sgd")
FREEZE = ("none", "backbone", "early")


@dataclass(frozen=True)
class TrainConfig:
    """How a detector is trained; defaults are the paper's (METHOD §4)."""

    epochs: int = 15  # passes over the training rows
    batch_size: int = 4  # clips per optimiser step
    lr: float = 1e-4  # learning rate at the start
    lr_step: int = 10  # epochs between learning-rate decays
    lr_gamma: float = 0.75  # factor applied at each decay
    optimizer: str = "adam"  # the paper names none; adam | adamw | sgd
    weight_decay: float = 0.0  # applied to matrices and kernels only (model.loop.decays)
    grad_clip: float = 0.0  # max gradient norm; 0: not clipped (the paper clips none)
    augment: bool = True  # the five METHOD §3 augmentations, each with probability augment_p
    augment_p: float = 0.5
    freeze: str = "none"  # none (full fine-tuning) | backbone (linear probe) | early (first two stages frozen)
    balance: bool = False  # sample classes equally in each epoch (helps a small cohort with few spasm segments)
    amp: bool = True  # bfloat16 autocast on a GPU; ignored on a CPU
    seed: int = 0  # initialisation, order and augmentation; fold k uses seed + k
    threshold: float = 0.5  # fixed beforehand for every metric at segment level
    test_flips: bool = False  # score each clip also mirrored and upside down, and average (inference.TEST_FLIPS)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr_step < 1:
            raise SettingError(f"epochs={self.epochs}, batch_size={self.batch_size}, lr_step={self.lr_step}", "each must be at least 1")
        if not self.lr > 0:
            raise SettingError(f"lr={self.lr}", "the learning rate must be positive")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise SettingError(f"weight_decay={self.weight_decay}, grad_clip={self.grad_clip}", "neither can be negative")
        if self.optimizer not in OPTIMIZERS:
            raise SettingError(f"optimizer={self.optimizer!r}", f"choose one of {', '.join(OPTIMIZERS)}")
        if self.freeze not in FREEZE:
            raise SettingError(f"freeze={self.freeze!r}", f"choose one of {', '.join(FREEZE)}")
        check_threshold(self.threshold)


def check_threshold(threshold: float) -> None:
    """A decision threshold is a probability strictly between 0 and 1, or a ``SettingError``."""
    if not 0.0 < threshold < 1.0:
        raise SettingError(f"threshold={threshold}", "a probability threshold must be strictly between 0 and 1")


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a model: architecture, clips it reads, and its training recipe."""

    preset: str
    model: HieraConfig
    clip: ClipConfig
    train: TrainConfig

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Inverse of ``as_dict`` (JSON turns tuples into lists)."""
        model = HieraConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d["model"].items()})
        return cls(preset=d["preset"], model=model, clip=ClipConfig(**d["clip"]), train=TrainConfig(**d["train"]))


def _cpu_model() -> HieraConfig:
    # 16 x 64 x 64 clips give 8 x 16 x 16 tokens: one 8 x 8 mask unit per quarter of the frame and three
    # poolings down to 8 x 2 x 2. Four stages of 32..256 channels keep Hiera's shape at 1.45 M parameters. The
    # motion channels (model.motion) are on: the shipped backbone was pretrained reading them (MODEL_CARD.md).
    return HieraConfig(input_size=(16, 64, 64), embed_dim=32, num_heads=1, stages=(1, 2, 3, 1), motion=True)


def default_settings() -> dict[str, Any]:
    """Every model, clip and training setting at its default, as a ``RunConfig`` stores them (JSON types): what a
    setting that an older run's file predates counts as (``loop.same_settings``)."""
    return json.loads(json.dumps({"model": asdict(HieraConfig()), "clip": asdict(ClipConfig()), "train": asdict(TrainConfig())}))


def preset(name: str) -> RunConfig:
    """``paper``: Hiera-B 16x224x224 and the paper's recipe. ``cpu``: a small Hiera on 16x64x64 clips that trains
    on two CPU cores in minutes."""
    if name == "paper":
        return RunConfig("paper", variant("hiera_base_16x224"), ClipConfig(frames=16, size=224), TrainConfig())
    if name == "cpu":
        # The cpu preset starts from the shipped backbone and its spasm head (weights.load_backbone), and a gentle
        # fine-tune (lr 1e-5, 4 epochs) keeps what pretraining learnt, where a larger step or a new head loses it
        # (MODEL_CARD.md has the figures). From random weights (--weights none) that is too little: use --lr 1e-4
        # --epochs 15. Batch 8 halves the steps. Segments are cut around the infant: at 64 pixels a wide view's
        # infant would be a few pixels tall. Scoring averages the four flipped views (inference.TEST_FLIPS), which
        # the model card shows helps on seen and unseen looks; the paper preset scores one view, as the paper did. A
        # hand-held phone's frames are held still first (ClipConfig.steady): on a renderer never seen it lifted the
        # cross-validated AUC as drawn and through a shaking hand never seen (model card). Each segment is read in two
        # phases, the second half a frame interval later (ClipConfig.phases): training draws one per epoch, scoring
        # averages both; with a renderer held out it lifted the clips held by the hand and kept those as drawn.
        train = TrainConfig(batch_size=8, augment=False, balance=True, lr=1e-5, epochs=4, test_flips=True)
        return RunConfig("cpu", _cpu_model(), ClipConfig(frames=16, size=64, crop_infant=True, steady=True, phases=2), train)
    raise SettingError(f"unknown preset {name!r}", "use paper or cpu")


def load_config(preset_name: str, toml_file: str | os.PathLike | None = None, **train_changes: Any) -> RunConfig:
    """The preset, then the TOML file's ``[model]``, ``[clip]`` and ``[train]`` tables, then CLI changes (``None``
    means not given). Unknown keys and bad values are refused naming the file and the key."""
    cfg = preset(preset_name)
    sections: dict[str, dict[str, Any]] = {}
    if toml_file is not None:
        path = Path(toml_file)
        try:
            sections = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise InputError(path, "config file not found", "give the path of a TOML file with [model], [clip] or [train] tables") from None
        except tomllib.TOMLDecodeError as e:
            raise InputError(path, f"is not valid TOML ({e})", "fix the syntax; see the README for an example") from None
        unknown = set(sections) - {"model", "clip", "train"}
        if unknown:
            raise InputError(path, f"unknown table(s) {', '.join(sorted(unknown))}", "use [model], [clip] and [train]")
    parts = {"model": cfg.model, "clip": cfg.clip, "train": cfg.train}
    sections.setdefault("train", {}).update({k: v for k, v in train_changes.items() if v is not None})
    for name, changes in sections.items():
        known = {f.name for f in fields(parts[name])}
        bad = sorted(set(changes) - known)
        where = toml_file if toml_file is not None and bad and set(bad) - set(train_changes) else "command line"
        if bad:
            raise InputError(where, f"[{name}] has unknown key(s) {', '.join(bad)}", f"known keys: {', '.join(sorted(known))}")
        try:
            parts[name] = replace(parts[name], **{k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()})
        except SettingError as e:
            raise InputError(toml_file or "command line", f"[{name}] {e.problem}", e.fix) from None
        except (ValueError, TypeError) as e:
            raise InputError(toml_file or "command line", f"[{name}]: {e}", "change that value") from None
    out = RunConfig(cfg.preset, parts["model"], parts["clip"], parts["train"])
    check_input_matches(out)
    return out


def check_input_matches(cfg: RunConfig) -> None:
    """The clips must be the size the model takes; say which setting to change when they are not."""
    want = (cfg.clip.frames, cfg.clip.size, cfg.clip.size)
    if tuple(cfg.model.input_size) != want:
        raise InputError(
            "config", f"clips are {want[0]}x{want[1]}x{want[2]} but the model takes {'x'.join(map(str, cfg.model.input_size))}",
            "set [clip] frames/size and [model] input_size to the same frames x size x size",
        )  # fmt: skip
