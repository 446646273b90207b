"""The implicit renderer: the body as one smooth surface around the bones, shaded from its own normals.

The other renderers build the infant from parts (lines and discs, filled capsules, lit ellipsoids, soft prints), so
a limb always meets the trunk at a visible seam or overlap. Here each bone (trunk, head, upper and lower limbs, hands
and feet) adds a smooth field that falls off with the distance from it, and the body is where their sum passes a
level: parts merge into one surface, a bent elbow fills out, an arm lying on the trunk joins it. The surface's
height follows the field, so its normals, lit from a direction drawn per recording with a highlight, give every
part its roundness; clothing is plain colour that the shading alone models, and a blanket is a second surface over
the belly, hips and thighs that the legs lift as they kick. The infant lies on a quilt of irregular cells, a fleece of
streaks or a plain sheet, and darkens it around the body. The framing, the camera, the sensor, the motion and the
parent's hand are the shared ones (``Scene``).

No backbone this project ships has seen this renderer: it is kept out of pretraining as the standing check of a
drawing that was never seen (``synth.renderers.UNSEEN``).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from spasmscope.synth.look import ChildLook, Recording
from spasmscope.synth.render import Scene, body_axes, own_generator

OWN_TAG = 0x1B0  # first word of this renderer's own random draws, apart from the plan's
LEVEL = 0.5  # the field's value on the body's surface
# Bones as (first point, second point, radius as a share of the limb's width, cloth when the clothing style is at
# least this, else skin; 3 = never cloth). The radius is where the bone's own field alone reaches ``LEVEL``.
BONES = (
    ("hip_{}", "knee_{}", 0.62, 2), ("knee_{}", "foot_{}", 0.5, 2), ("foot_{}", "foot_{}", 0.7, 3),
    ("shoulder_{}", "elbow_{}", 0.56, 1), ("elbow_{}", "hand_{}", 0.48, 2), ("hand_{}", "hand_{}", 0.62, 3),
)  # fmt: skip
SHEETS = ("quilt", "fleece", "plain")


def segment_distance(grid: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances ``[...]`` from points ``grid`` ``[..., 2]`` to the segment from ``a`` to ``b`` (a point when they
    meet), in the grid's units."""
    ab = b - a
    length2 = float(ab @ ab)
    rel = grid - a
    t = np.clip((rel @ ab) / length2, 0.0, 1.0)[..., None] if length2 > 1e-12 else np.zeros((*grid.shape[:-1], 1))
    return np.linalg.norm(rel - t * ab, axis=-1)


def bone_field(distance: np.ndarray, radius: float) -> np.ndarray:
    """One bone's field: 1 on the bone, ``LEVEL`` at ``radius``, falling as a Gaussian of the distance."""
    return np.exp(math.log(LEVEL) * (distance / max(radius, 1e-6)) ** 2)


class ImplicitScene(Scene):
    """The implicit renderer (see the module docstring)."""

    name = "implicit"

    def __init__(self, look: ChildLook, rec: Recording, rng: np.random.Generator):
        self.own = own_generator(OWN_TAG, rng)
        super().__init__(look, rec, rng)
        own = self.own
        elevation, azimuth = own.uniform(0.35, 1.2), own.uniform(0, 2 * math.pi)
        self.light = np.array([math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth), math.sin(elevation)])
        self.ambient = own.uniform(0.35, 0.6)
        self.shine = own.uniform(0.0, 0.35)  # strength of the highlight: matte cotton to damp skin
        self.relief = own.uniform(0.6, 1.4)  # how high the surface stands for its width: flat to plump
        self.covered = own.uniform() < 0.6
        self.blanket = np.asarray(self.colour(own.integers(50, 235, 3)), np.float32)
        self.blanket_reach = own.uniform(0.3, 0.8)  # how far down the thighs the blanket lies, as a share of them
        self.darkening = own.uniform(0.15, 0.45)  # how much the body darkens the sheet around it

    # --- the sheet -----------------------------------------------------------------------------
    def _background(self, rng: np.random.Generator) -> np.ndarray:
        base = super()._background(rng)  # the same draws as the articulated renderer, then a sheet of its own
        sheet = self._sheet(self.own)
        if self.rec.wide:  # the room stays; the sheet covers the mattress
            return np.where((self._mattress_mask() > 0)[..., None], sheet, base).astype(np.uint8)
        return sheet

    def _sheet(self, rng: np.random.Generator) -> np.ndarray:
        """The surface the infant lies on ``[h, w, 3] uint8``: a quilt of irregular cells with seams, a fleece of
        short streaks along one direction, or a plain sheet; in light that falls off from one side."""
        h, w = self.h, self.w
        base = np.asarray(self.colour(rng.integers(70, 245, 3)), np.float32)
        other = np.clip(base * rng.uniform(0.55, 1.3, 3), 0, 255)
        other = np.asarray(self.colour(other), np.float32) if not self.rec.night else base * rng.uniform(0.6, 0.9)
        kind = SHEETS[int(rng.integers(len(SHEETS)))]
        if kind == "quilt":  # cells around scattered seeds (a Voronoi quilt), each its own shade, dark seams between
            cell = max(6.0, rng.uniform(0.3, 0.8) * self.px)
            n = max(4, int(h * w / cell**2))
            seeds = rng.uniform(0, 1, (n, 2)) * [w, h]
            small = 4  # the cells are found on a grid four times coarser: they are many pixels wide
            yy, xx = np.mgrid[0 : h // small + 1, 0 : w // small + 1].astype(np.float32) * small
            d = (xx[..., None] - seeds[:, 0]) ** 2 + (yy[..., None] - seeds[:, 1]) ** 2
            nearest = np.sqrt(np.partition(d, 1, axis=-1)[..., :2])  # the nearest two seeds' distances, in order
            owner = np.argmin(d, axis=-1)
            shade = rng.uniform(0, 1, n)[owner]
            seam = np.clip((nearest[..., 1] - nearest[..., 0]) / max(2.0, 0.06 * cell), 0, 1)
            mix = cv2.resize((shade * (0.55 + 0.45 * seam)).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)[:h, :w]
        elif kind == "fleece":  # noise smeared along one direction into short streaks
            noise = rng.random((h, w)).astype(np.float32)
            length = max(5, int(rng.uniform(0.15, 0.5) * self.px)) | 1
            kernel = np.zeros((length, length), np.float32)
            cv2.line(kernel, (0, length // 2), (length - 1, length // 2), 1.0, 1)
            turn = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
            kernel = cv2.warpAffine(kernel, turn, (length, length))
            mix = cv2.filter2D(noise, -1, kernel / max(kernel.sum(), 1e-6))
            lo, hi = np.percentile(mix, [2, 98])
            mix = np.clip((mix - lo) / max(hi - lo, 1e-6), 0, 1)
        else:
            mix = np.zeros((h, w), np.float32)
        img = base * (1 - mix[..., None]) + other * mix[..., None]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        side = rng.uniform(0, 2 * math.pi)
        across = ((xx - w / 2) * math.cos(side) + (yy - h / 2) * math.sin(side)) / max(w, h)
        return np.clip(img * (1 + rng.uniform(0.1, 0.5) * across)[..., None], 0, 255).astype(np.uint8)

    # --- the body ------------------------------------------------------------------------------
    def _draw_infant(self, img: np.ndarray, m: np.ndarray, pts: dict[str, np.ndarray], yaw: float) -> None:
        look = self.look
        scale = math.hypot(m[0, 0], m[1, 0])  # pixels per body unit, zoom included
        limb = look.limb_w * scale
        trunk = pts["trunk_half"]
        head_r = float(pts["head_r"][0]) * scale
        up, right = body_axes(m)
        points = {n: m[:, :2] @ v + m[:, 2] for n, v in pts.items() if n not in ("trunk_half", "head_r")}
        trunk_r = trunk[0] * scale * 0.95
        ends = [m[:, :2] @ np.array([0.0, s * max(trunk[1] - trunk[0] * 0.8, 0.05)]) + m[:, 2] for s in (-1, 1)]
        skin = np.asarray(self.colour(look.skin, ir_boost=1.35), np.float32)
        cloth = np.asarray(self.colour(look.clothing), np.float32)
        diaper = np.asarray(self.colour((235, 235, 230)), np.float32)
        bones = [(ends[0], ends[1], trunk_r, cloth if look.clothing_style >= 1 else skin)]
        for a, b, width, cloth_from in BONES:
            for side in "lr":
                bones.append((points[a.format(side)], points[b.format(side)], width * limb, cloth if look.clothing_style >= cloth_from else skin))
        hair = np.asarray(self.colour((225, 225, 235)) if self.cap else self.colour(look.hair), np.float32)
        bones.append((points["head"], points["head"], head_r, skin))

        # The region the body can reach, at half the resolution for the fields (they are smooth).
        reach = max(trunk_r, head_r, limb) * 2.2
        every = np.array([p for a, b, _, _ in bones for p in (a, b)])
        x0, y0 = np.floor(np.maximum(every.min(axis=0) - reach, 0)).astype(int)
        x1, y1 = np.ceil(np.minimum(every.max(axis=0) + reach, [img.shape[1], img.shape[0]])).astype(int)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        step = 2.0 if min(trunk_r, limb) > 6 else 1.0
        gy, gx = np.mgrid[0 : math.ceil((y1 - y0) / step), 0 : math.ceil((x1 - x0) / step)].astype(np.float64)
        grid = np.stack([x0 + (gx + 0.5) * step - 0.5, y0 + (gy + 0.5) * step - 0.5], axis=-1)
        fields = np.stack([bone_field(segment_distance(grid, a, b), r) for a, b, r, _ in bones])
        total = fields.sum(axis=0)
        # Colours blend where bones meet, each bone weighing by a high power of its field: seams stay soft.
        weight = fields**4 + 1e-12
        colour = np.einsum("khw,kc->hwc", weight, np.stack([c for _, _, _, c in bones])) / weight.sum(axis=0)[..., None]
        along = (grid - points["trunk"]) @ up / max(trunk[1] * scale, 1e-6)  # +1 at the neck
        if look.clothing_style == 0:  # a diaper over the lower trunk, where the trunk's field leads
            lower = (fields[0] >= fields[1:].max(axis=0)) & (along < -0.2)
            colour[lower] = diaper
        head_up = (grid - points["head"]) @ up / max(head_r, 1e-6)
        on_head = _soft_step(fields[-1] / np.maximum(total, 1e-6), 0.5, 0.15) * _soft_step(head_up, 0.3, 0.12) * 0.75
        colour = colour * (1 - on_head[..., None]) + hair * on_head[..., None]
        height = self.relief * max(trunk_r, limb) * np.sqrt(np.clip(total - LEVEL, 0, None))
        inside = _soft_step(total, LEVEL, 0.06)
        if self.covered:
            height, colour, inside = self._under_blanket(grid, m, pts, scale, fields, height, colour, inside)
        shade = self._shade(height, step)
        body = colour * shade[..., None]
        # Up to full resolution, then onto the sheet, which the body darkens around it.
        size = (x1 - x0, y1 - y0)
        body = cv2.resize(body.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        alpha = cv2.resize(inside.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        around = cv2.GaussianBlur(alpha, (0, 0), max(1.0, 0.6 * limb))
        region = img[y0:y1, x0:x1].astype(np.float32) * (1 - self.darkening * around)[..., None]
        img[y0:y1, x0:x1] = np.clip(region * (1 - alpha[..., None]) + body * alpha[..., None], 0, 255).astype(np.uint8)
        for ex in (-0.36, 0.36):  # closed or open eyes: short dark arcs
            p = points["head"] + right * (ex + 0.25 * yaw) * head_r - up * 0.08 * head_r
            axes = (max(1, int(0.18 * head_r)), max(1, int(0.07 * head_r)))
            cv2.ellipse(img, (int(round(p[0])), int(round(p[1]))), axes, math.degrees(math.atan2(m[1, 0], m[0, 0])), 0, 360, self.colour((45, 30, 25)), -1, cv2.LINE_AA)

    def _under_blanket(self, grid: np.ndarray, m: np.ndarray, pts: dict[str, np.ndarray], scale: float, fields: np.ndarray,
                       height: np.ndarray, colour: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """A blanket over the belly, hips and thighs: a second surface, fixed to the body, that the legs beneath lift (the
        blanket's height is its own plus part of the legs'); returns the height, colour and coverage with it."""
        trunk = pts["trunk_half"]
        knees = (pts["knee_l"] + pts["knee_r"]) / 2
        hips = (pts["hip_l"] + pts["hip_r"]) / 2
        top = m[:, :2] @ np.array([0.0, trunk[1] * 0.3]) + m[:, 2]
        hem = m[:, :2] @ (hips + (knees - hips) * (0.6 + self.blanket_reach)) + m[:, 2]
        radius = (trunk[0] * 1.2 + self.look.limb_w) * scale
        cover = bone_field(segment_distance(grid, top, hem), radius)
        under = fields[:7].sum(axis=0)  # the trunk and legs (BONES' first three per side)
        blanket_height = 0.5 * radius * np.sqrt(np.clip(cover - LEVEL, 0, None)) + 0.6 * np.sqrt(np.clip(under - LEVEL * 0.6, 0, None)) * radius * 0.5
        covered = _soft_step(cover, LEVEL, 0.06)
        height = height * (1 - covered) + np.maximum(blanket_height, 0) * covered
        colour = colour * (1 - covered[..., None]) + self.blanket * covered[..., None]
        return height, colour, np.maximum(inside, covered)

    def _shade(self, height: np.ndarray, step: float) -> np.ndarray:
        """Brightness ``[h, w]`` of a surface of ``height`` (pixels, on a grid of ``step`` pixels): ambient light,
        Lambert's law and a highlight, from the surface's normals."""
        dy, dx = np.gradient(height.astype(np.float64), step)
        normal = np.stack([-dx, -dy, np.ones_like(dx)], axis=-1)
        normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
        diffuse = np.clip(normal @ self.light, 0, None)
        halfway = self.light + np.array([0.0, 0.0, 1.0])
        highlight = np.clip(normal @ (halfway / np.linalg.norm(halfway)), 0, None) ** 24
        return self.ambient + (1 - self.ambient) * diffuse * 1.15 + self.shine * highlight


def _soft_step(value: np.ndarray, level: float, width: float) -> np.ndarray:
    """0 below ``level - width``, 1 above ``level + width``, smooth between: an anti-aliased edge of a field."""
    t = np.clip((value - level + width) / (2 * width), 0, 1)
    return t * t * (3 - 2 * t)
