"""Motion channels: what moved between consecutive frames once the camera's own shift is taken out.

A model that reads only pixels can learn how a renderer draws an infant. The difference of two consecutive frames is
zero wherever nothing moved, whatever the picture looks like, so it carries the movement itself (issue "Detection that
holds on pictures it never saw", representation). A hand-held phone moves the whole picture, which plain differences
would read as movement everywhere: each frame's predecessor is first shifted by the whole-picture translation that
phase correlation finds between the two, and what is left is the infant's own movement.

Shapes: clips ``[B, C, T, H, W]`` (Kinetics-normalised, as the model takes them); shifts ``[B, T, 2]`` integer pixels
``(dy, dx)``.
"""

from __future__ import annotations

import torch

# The largest camera shift between two frames taken as the camera's, in pixels per 64 (about 6% of the picture): a
# larger peak is more likely the infant itself moving a large part of the crop, which must stay in the differences.
MAX_SHIFT_PER_64 = 4


def picture_shifts(grey: torch.Tensor, max_shift: int | None = None) -> torch.Tensor:
    """``[B, T, H, W]`` frames -> ``[B, T, 2]`` integer ``(dy, dx)``: ``torch.roll(frame[t - 1], (dy, dx))`` best
    matches ``frame[t]`` (row 0: zeros). Phase correlation (the peak of the inverse FFT of the normalised cross-power
    spectrum, as scikit-image's ``phase_cross_correlation`` at whole pixels). A peak farther than ``max_shift`` pixels
    on either axis (default ``MAX_SHIFT_PER_64`` scaled to the frame) counts as no camera shift."""
    b, t, h, w = grey.shape
    limit = max_shift if max_shift is not None else max(1, round(MAX_SHIFT_PER_64 * min(h, w) / 64))
    with torch.no_grad():
        grey = grey.float()
        before, after = torch.fft.rfft2(grey[:, :-1]), torch.fft.rfft2(grey[:, 1:])
        cross = after * before.conj()
        surface = torch.fft.irfft2(cross / cross.abs().clamp_min(1e-12), s=(h, w))
        peak = surface.flatten(2).argmax(-1)
        dy, dx = peak // w, peak % w
        dy = torch.where(dy > h // 2, dy - h, dy)
        dx = torch.where(dx > w // 2, dx - w, dx)
        far = (dy.abs() > limit) | (dx.abs() > limit)
        shifts = torch.stack([dy, dx], -1).masked_fill(far[..., None], 0)
    return torch.cat([torch.zeros(b, 1, 2, dtype=shifts.dtype, device=shifts.device), shifts], 1)


def stabilised_differences(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, T, H, W]`` -> ``[B, C, T, H, W]``: frame t minus frame t - 1 shifted by ``picture_shifts`` (of the
    channel mean); zero at t = 0 and where the shifted frame has no pixel (the strip that rolled in from the other
    side)."""
    b, c, t, h, w = x.shape
    shifts = picture_shifts(x.mean(1))[:, 1:]  # [B, T-1, 2]
    before = x[:, :, :-1].transpose(1, 2)  # [B, T-1, C, H, W]
    rows = torch.arange(h, device=x.device)[None, None, :] - shifts[..., 0:1]  # [B, T-1, H]: source row of each row
    cols = torch.arange(w, device=x.device)[None, None, :] - shifts[..., 1:2]  # [B, T-1, W]
    bi = torch.arange(b, device=x.device)[:, None, None, None]
    ti = torch.arange(t - 1, device=x.device)[None, :, None, None]
    # Advanced indices around a slice put their dims first: [B, T-1, H, W, C].
    moved = before[bi, ti, :, (rows % h)[..., :, None], (cols % w)[..., None, :]].permute(0, 1, 4, 2, 3)
    inside = ((rows >= 0) & (rows < h))[..., :, None] & ((cols >= 0) & (cols < w))[..., None, :]  # [B, T-1, H, W]
    diff = (x[:, :, 1:].transpose(1, 2) - moved) * inside[:, :, None].to(x.dtype)
    return torch.cat([torch.zeros_like(x[:, :, :1]), diff.transpose(1, 2)], 2)
