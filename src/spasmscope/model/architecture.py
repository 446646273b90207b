"""The architecture of a video Hiera as settings: sizes, stages, poolings and the official variants. Kept apart from
the network (``hiera``) so that a run's config is read and checked without torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class HieraConfig:
    """Architecture of a video Hiera; defaults are ``hiera_base_16x224``."""

    input_size: tuple[int, int, int] = (16, 224, 224)  # frames, height, width
    embed_dim: int = 96  # channels of the first stage
    num_heads: int = 1  # heads of the first stage
    stages: tuple[int, ...] = (2, 3, 16, 3)  # blocks per stage
    q_pool: int = 3  # stages that start with query pooling
    q_stride: tuple[int, int, int] = (1, 2, 2)  # pooling stride per (t, h, w)
    mask_unit_size: tuple[int, int, int] = (1, 8, 8)  # tokens per mask unit at the first stage
    mask_unit_attn: tuple[bool, ...] = (True, True, False, False)  # local (mask-unit) attention per stage
    dim_mul: float = 2.0  # channel growth per stage
    head_mul: float = 2.0  # head growth per stage
    patch_kernel: tuple[int, int, int] = (3, 7, 7)
    patch_stride: tuple[int, int, int] = (2, 4, 4)
    patch_padding: tuple[int, int, int] = (1, 3, 3)
    mlp_ratio: float = 4.0
    drop_path_rate: float = 0.0  # stochastic depth at the last block (linear from 0)
    head_dropout: float = 0.0
    sep_pos_embed: bool = True  # separate spatial and temporal position embeddings (video models)
    checkpointing: bool = False  # recompute block activations in backward to save memory
    motion: bool = False  # read three more channels, stabilised frame differences (model.motion), beside the pixels
    pixels: bool = True  # read the pixels; False (with motion) blanks them, so only what moved reaches the model
    standardise: bool = False  # each clip's channels to their own mean and spread first (standardise)

    def __post_init__(self) -> None:
        if not self.pixels and not self.motion:
            raise ValueError("pixels=false leaves the model nothing to read; set motion=true with it")
        tokens = [i // s for i, s in zip(self.input_size, self.patch_stride, strict=True)]
        if any(t == 0 or t % m or t % (q**self.q_pool) for t, m, q in zip(tokens, self.mask_unit_size, self.q_stride, strict=True)):
            raise ValueError(
                f"input_size={self.input_size} gives {tokens} tokens, which mask units {self.mask_unit_size} and "
                f"{self.q_pool} poolings by {self.q_stride} do not divide; choose sizes that are multiples of them"
            )

    def as_dict(self) -> dict:
        return asdict(self)


VARIANTS: dict[str, HieraConfig] = {
    "hiera_base_16x224": HieraConfig(),
    "hiera_base_plus_16x224": HieraConfig(embed_dim=112, num_heads=2),
    "hiera_large_16x224": HieraConfig(embed_dim=144, num_heads=2, stages=(2, 6, 36, 4)),
    "hiera_huge_16x224": HieraConfig(embed_dim=256, num_heads=4, stages=(2, 6, 36, 4)),
}


def variant(name: str, **changes) -> HieraConfig:
    """A named official variant, optionally changed (e.g. ``checkpointing=True``)."""
    if name not in VARIANTS:
        raise ValueError(f"unknown Hiera variant {name!r}; known: {', '.join(VARIANTS)}")
    return replace(VARIANTS[name], **changes)
