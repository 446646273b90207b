"""Hiera video transformer (Ryali et al. 2023), the project's own code, state-dict compatible with the
official ``hiera-transformer`` 0.1.4 release (same parameter names and token order, so its
checkpoints load), with a one-logit head.

Built bottom-up: token unrolling -> mask-unit attention -> block -> model. Its settings and the official
variants are in ``spasmscope.model.architecture``.

Shapes: input ``[B, 3, T, H, W] float`` (Kinetics-normalised); tokens ``[B, N, C]``; features
``[B, C_last]``; logits ``[B]``. The model returns logits, never probabilities: ``probability()`` in
``spasmscope.model.scores`` is the one place a sigmoid is applied.

Differences from the official code, on purpose: the head has one output and no eval-mode softmax;
no dependency on timm; optional gradient checkpointing per block; the masked (MAE) input path returns
last-stage tokens only (no intermediate features).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from spasmscope.model.architecture import HieraConfig
from spasmscope.model.motion import stabilised_differences

# The least spread a clip is scaled from, in Kinetics-normalised units (about 3 grey levels): a clip flatter than
# this is taken as empty, not stretched until its sensor noise looks like a picture.
STANDARD_FLOOR = 0.05


def standardise(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, T, H, W]`` -> the same, each channel of each clip shifted and scaled to mean 0 and spread 1 over its
    frames. An infrared night clip keeps its movement in a few grey levels; scaled to its own spread it reaches the
    model as large as a day clip's. Per channel, so exposure, contrast and a white balance's tint (a gain and an
    offset per channel, Kinetics normalisation included) all drop out. Spread at least ``STANDARD_FLOOR``."""
    dims = tuple(range(2, x.ndim))
    return (x - x.mean(dims, keepdim=True)) / x.std(dims, keepdim=True).clamp_min(STANDARD_FLOOR)


def unroll(x: torch.Tensor, size: list[int], schedule: list[tuple[int, ...]]) -> torch.Tensor:
    """Reorder ``[B, N, C]`` tokens (N = prod(size), row-major over ``size``) so that each pooling by
    ``schedule[i]`` is a max over the first axis of ``x.view(B, prod(stride), -1, C)``, and so that the
    tokens of a mask unit end up in one strided window (see the official Hiera code for the idea)."""
    b, _, c = x.shape
    n = math.prod(size)
    x = x.view(b, *size, c)
    cur = list(size)
    for stride in schedule:
        cur = [s // k for s, k in zip(cur, stride, strict=True)]
        split = [v for s, k in zip(cur, stride, strict=True) for v in (s, k)]
        x = x.view(b, *split, c)
        d = len(stride)
        # [B, s0, k0, s1, k1, ..., C] -> [B, k0, k1, ..., s0, s1, ..., C], strides folded into batch
        x = x.permute(0, *range(2, 2 * d + 1, 2), *range(1, 2 * d, 2), 2 * d + 1).flatten(0, d)
        b *= math.prod(stride)
    return x.reshape(-1, n, c)


def pool_tokens(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Max-pool unrolled tokens ``[B, N, C]`` -> ``[B, N / stride, C]``."""
    return x.view(x.shape[0], stride, -1, x.shape[-1]).amax(dim=1)


class MaskUnitAttention(nn.Module):
    """Multi-head attention within mask units (``windowed``) or over all tokens, with optional query
    pooling by ``q_stride`` (flattened). Uses PyTorch's scaled_dot_product_attention."""

    def __init__(self, dim: int, dim_out: int, heads: int, q_stride: int, window_size: int, windowed: bool):
        super().__init__()
        self.dim_out, self.heads, self.q_stride = dim_out, heads, q_stride
        self.head_dim = dim_out // heads
        self.window_size, self.windowed = window_size, windowed
        self.qkv = nn.Linear(dim, 3 * dim_out)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        windows = n // (self.q_stride * self.window_size) if self.windowed else 1
        # Unrolled order puts the window index fastest: token = position * windows + window.
        qkv = self.qkv(x).reshape(b, -1, windows, 3, self.heads, self.head_dim).permute(3, 0, 4, 2, 1, 5)
        q, k, v = qkv.unbind(0)  # each [B, heads, windows, tokens per window, head_dim]
        if self.q_stride > 1:
            q = q.view(b, self.heads, windows, self.q_stride, -1, self.head_dim).amax(dim=3)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 3).reshape(b, -1, self.dim_out))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class DropPath(nn.Module):
    """Stochastic depth: drop the residual branch of a whole sample with probability ``p`` in training."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class HieraBlock(nn.Module):
    def __init__(self, dim: int, dim_out: int, heads: int, mlp_ratio: float, drop_path: float, q_stride: int, window_size: int, windowed: bool):
        super().__init__()
        self.dim, self.dim_out = dim, dim_out
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MaskUnitAttention(dim, dim_out, heads, q_stride, window_size, windowed)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = Mlp(dim_out, int(dim_out * mlp_ratio))
        self.drop_path = DropPath(drop_path)
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_norm = self.norm1(x)
        if self.dim != self.dim_out:
            x = pool_tokens(self.proj(x_norm), self.attn.q_stride)
        x = x + self.drop_path(self.attn(x_norm))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, cfg: HieraConfig):
        super().__init__()
        self.proj = nn.Conv3d(6 if cfg.motion else 3, cfg.embed_dim, cfg.patch_kernel, cfg.patch_stride, cfg.patch_padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, C, t, h, w] -> [B, N, C]


class Head(nn.Module):
    """One logit per clip (spasm vs no spasm)."""

    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.projection = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(self.dropout(x)).squeeze(-1)


class Hiera(nn.Module):
    """Video Hiera with a one-logit head: ``forward_features`` -> ``forward_head``."""

    def __init__(self, cfg: HieraConfig):
        super().__init__()
        self.cfg = cfg
        self.tokens_shape = [i // s for i, s in zip(cfg.input_size, cfg.patch_stride, strict=True)]
        self.patch_embed = PatchEmbed(cfg)
        t, h, w = self.tokens_shape
        if cfg.sep_pos_embed:
            self.pos_embed_spatial = nn.Parameter(torch.zeros(1, h * w, cfg.embed_dim))
            self.pos_embed_temporal = nn.Parameter(torch.zeros(1, t, cfg.embed_dim))
        else:
            self.pos_embed = nn.Parameter(torch.zeros(1, t * h * w, cfg.embed_dim))
        stage_ends = [sum(cfg.stages[: i + 1]) - 1 for i in range(len(cfg.stages))]
        self.schedule = [cfg.q_stride] * (len(stage_ends) - 1)
        pool_at = {end + 1 for end in stage_ends[: cfg.q_pool]}
        flat_q = math.prod(cfg.q_stride)
        window = math.prod(cfg.mask_unit_size)
        depth = sum(cfg.stages)
        drop = [cfg.drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]  # linear, 0 at the first block
        dim, heads, stage = cfg.embed_dim, cfg.num_heads, 0
        self.blocks = nn.ModuleList()
        for i in range(depth):
            dim_out = dim
            # The attention kind lags the stage by one block: a stage's first block pools, attending
            # as the previous stage did.
            windowed = cfg.mask_unit_attn[stage]
            if i - 1 in stage_ends:
                dim_out, heads, stage = int(dim * cfg.dim_mul), int(heads * cfg.head_mul), stage + 1
                if i in pool_at:
                    window //= flat_q
            self.blocks.append(HieraBlock(dim, dim_out, heads, cfg.mlp_ratio, drop[i], flat_q if i in pool_at else 1, window, windowed))
            dim = dim_out
        self.num_features = dim
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = Head(dim, cfg.head_dropout)
        self.apply(_init_weights)
        for p in (self.pos_embed_spatial, self.pos_embed_temporal) if cfg.sep_pos_embed else (self.pos_embed,):
            nn.init.trunc_normal_(p, std=0.02)
        self.reset_classifier()

    def reset_classifier(self) -> None:
        """A fresh head: small weights, so fine-tuning starts from logits near 0 (probability 0.5)."""
        nn.init.trunc_normal_(self.head.projection.weight, std=0.02 * 0.001)
        nn.init.zeros_(self.head.projection.bias)

    def pos_embed_full(self) -> torch.Tensor:
        if not self.cfg.sep_pos_embed:
            return self.pos_embed
        t, h, w = self.tokens_shape
        return self.pos_embed_spatial.repeat(1, t, 1) + self.pos_embed_temporal.repeat_interleave(h * w, dim=1)

    def token_grid(self) -> tuple[int, int, int]:
        """``(t, h, w)`` of the last stage's tokens, which ``forward_tokens`` returns in raster order."""
        t, h, w = self.tokens_shape
        for stride in self.schedule[: self.cfg.q_pool]:
            t, h, w = t // stride[0], h // stride[1], w // stride[2]
        return t, h, w

    @property
    def mask_units(self) -> tuple[int, int, int]:
        """``(t, h, w)`` grid of mask units: the first stage's tokens divided by ``mask_unit_size``."""
        return tuple(n // m for n, m in zip(self.tokens_shape, self.cfg.mask_unit_size, strict=True))  # type: ignore[return-value]

    def forward_tokens(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, 3, T, H, W]`` -> last-stage tokens ``[B, n, num_features]`` before pooling and norm, in raster
        order over ``token_grid()`` (the unrolled order is fully undone once every pooling has happened).

        ``mask``: ``[B, units] bool`` over ``mask_units`` in raster order, True = keep (as the official code), the
        same number kept in every sample. Masked units are blanked before the patch embedding and their tokens
        dropped, so each kept unit ends as ``n / kept`` tokens in unit order (MAE pretraining).
        """
        if len(self.schedule) != self.cfg.q_pool:
            raise ValueError("forward_tokens needs a model that pools at every stage change (q_pool = stages - 1)")
        return self._blocks(x, mask)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, T, H, W]`` -> pooled, normalised features ``[B, num_features]``."""
        return self.norm(self._blocks(x).mean(dim=1))

    def _blocks(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if tuple(x.shape[2:]) != tuple(self.cfg.input_size):
            raise ValueError(f"input of shape {tuple(x.shape)}; this model takes [B, 3, {', '.join(map(str, self.cfg.input_size))}]")
        if self.cfg.standardise:
            x = standardise(x)
        if self.cfg.motion:
            # Blanked pixels keep the six-channel kernel, so a motion-only model loads and continues any motion or
            # pixels backbone; the blank is the Kinetics mean, what an empty grey picture normalises to.
            x = torch.cat([x if self.cfg.pixels else torch.zeros_like(x), stabilised_differences(x)], 1)
        if mask is not None:
            # Blank masked pixels first, so the patch kernels cannot see across into a masked unit.
            grid = mask.view(x.shape[0], 1, *self.mask_units).float()
            x = x * F.interpolate(grid, size=x.shape[2:], mode="nearest")
        x = self.patch_embed(x) + self.pos_embed_full()
        x = unroll(x, self.tokens_shape, self.schedule)
        if mask is not None:
            # Unrolled order puts the mask unit fastest (token = position * units + unit): keep whole units.
            keep = mask[:, None, :].expand(-1, x.shape[1] // mask.shape[1], -1).reshape(x.shape[0], -1)
            x = x[keep].view(x.shape[0], -1, x.shape[-1])
        for block in self.blocks:
            if self.cfg.checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """``[B, num_features]`` -> logits ``[B]``."""
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, T, H, W]`` -> logits ``[B]`` (not probabilities)."""
        return self.forward_head(self.forward_features(x))


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, (nn.Linear, nn.Conv3d)):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.constant_(m.bias, 0.02)
    elif isinstance(m, nn.LayerNorm):
        nn.init.constant_(m.weight, 1.0)
        nn.init.constant_(m.bias, 0.02)


OFFICIAL_LICENCE = "The official Hiera weights are CC BY-NC 4.0 (non-commercial use only)."
HEAD_KEYS = ("head.projection.weight", "head.projection.bias")


def widen_for_motion(model: Hiera, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with its patch kernel widened by zeros for the motion channels when ``model`` reads them and the
    state's kernel reads pixels only: the widened model starts as exactly the pixels' model (its motion kernels learn
    from there), so any backbone, the official ones included, can start a motion model."""
    key = "patch_embed.proj.weight"
    if not model.cfg.motion or key not in state or state[key].shape[1] != 3:
        return state
    kernel = state[key]
    return {**state, key: torch.cat([kernel, torch.zeros_like(kernel)], 1)}


def resize_position_embeddings(model: Hiera, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with its separate position embeddings resized to ``model``'s token grid when the state was trained
    on clips of another size (e.g. a 64-px backbone in a 96-px model): the spatial ``[1, h0 * w0, C]`` table (a
    square grid) and the temporal ``[1, t0, C]`` one are interpolated linearly over token centres (edges held), as
    SciPy's ``ndimage.zoom(order=1, grid_mode=True, mode="nearest")`` does. Other weights do not depend on the clip
    size. A state of this model's size, or without separate embeddings, comes back unchanged."""
    if not model.cfg.sep_pos_embed or "pos_embed_spatial" not in state or "pos_embed_temporal" not in state:
        return state
    t, h, w = model.tokens_shape
    spatial, temporal = state["pos_embed_spatial"], state["pos_embed_temporal"]
    side = math.isqrt(spatial.shape[1])
    out = dict(state)
    if spatial.shape[1] != h * w and side * side == spatial.shape[1]:
        grid = spatial.reshape(1, side, side, -1).permute(0, 3, 1, 2).float()
        grid = F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=False)
        out["pos_embed_spatial"] = grid.permute(0, 2, 3, 1).reshape(1, h * w, -1).to(spatial.dtype)
    if temporal.shape[1] != t:
        line = F.interpolate(temporal.transpose(1, 2).float(), size=t, mode="linear", align_corners=False)
        out["pos_embed_temporal"] = line.transpose(1, 2).to(temporal.dtype)
    return out


def load_official_state(model: Hiera, state: dict[str, torch.Tensor], keep_head: bool = False) -> None:
    """Load an official checkpoint's ``model_state`` (any head) into ``model``; the head stays fresh unless
    ``keep_head`` (the state's head is then this model's one-logit spasm head, and is loaded too).

    Asserts that exactly the head is missing and nothing is unexpected, so a checkpoint of another
    variant or a renamed key fails loudly instead of silently leaving layers random.
    """
    backbone = {k: v for k, v in state.items() if not k.startswith("head.")}
    result = model.load_state_dict(backbone, strict=False)
    assert sorted(result.missing_keys) == sorted(HEAD_KEYS), f"missing keys: {result.missing_keys}"
    assert not result.unexpected_keys, f"unexpected keys: {result.unexpected_keys}"
    if keep_head:
        model.load_state_dict({k: state[k] for k in HEAD_KEYS}, strict=False)
    else:
        model.reset_classifier()
