"""The silhouette renderer: the infant as one filled body, clothed in a printed fabric, half under a blanket.

Where the articulated renderer draws lines and discs in flat colours on a geometric blanket pattern, this one
fills the union of the body's parts as a single shape, prints the clothing with a fabric texture of its own
(plaid, stripes or mottled knit), lays a textured blanket over the hips and thighs whose hem follows the knees,
so that a kick shows as the blanket moving and the feet coming out, and puts the infant on a woven or mottled
sheet. The framing, camera, sensor and motion are the articulated renderer's (``Scene``).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from spasmscope.synth.look import ChildLook, Recording
from spasmscope.synth.render import Scene, body_axes, own_generator

OWN_TAG = 0x51E  # first word of this renderer's own random draws, apart from the plan's


def fabric(rng: np.random.Generator, h: int, w: int, base: np.ndarray, ink: np.ndarray, period: float) -> np.ndarray:
    """A printed fabric ``[h, w, 3] float32`` (0-255): plaid, stripes at an angle, or mottled knit, of ``period``
    pixels, in the colours ``base`` and ``ink``."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = int(rng.integers(3))
    if kind == 0:  # plaid: two crossing sets of bands
        a = 0.5 + 0.5 * np.cos(2 * np.pi * xx / period)
        b = 0.5 + 0.5 * np.cos(2 * np.pi * yy / (period * rng.uniform(0.7, 1.4)))
        mix = np.clip(0.6 * a * a + 0.6 * b * b, 0, 1)
    elif kind == 1:  # stripes at an angle
        angle = rng.uniform(0, np.pi)
        u = xx * math.cos(angle) + yy * math.sin(angle)
        mix = (np.sin(2 * np.pi * u / period) > rng.uniform(-0.4, 0.4)).astype(np.float32)
        mix = cv2.GaussianBlur(mix, (0, 0), 0.6)
    else:  # mottled knit: blurred noise at two scales
        coarse = cv2.resize(rng.random((max(2, int(h / period) + 2), max(2, int(w / period) + 2))).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        fine = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.0)
        mix = np.clip(0.7 * coarse + 0.6 * (fine - 0.5), 0, 1)
    return base[None, None, :] * (1 - mix[..., None]) + ink[None, None, :] * mix[..., None]


class SilhouetteScene(Scene):
    """The silhouette renderer (see the module docstring)."""

    name = "silhouette"

    def __init__(self, look: ChildLook, rec: Recording, rng: np.random.Generator):
        self.own = own_generator(OWN_TAG, rng)
        super().__init__(look, rec, rng)
        own = self.own
        cloth, blanket = np.asarray(self.colour(look.clothing)), np.asarray(self.colour(own.integers(40, 230, 3)))
        self.cloth_fabric = self._fabric(own, self.h, self.w, cloth, self._ink(cloth * own.uniform(0.4, 0.8) + own.uniform(-40, 40, 3)), own.uniform(0.1, 0.3) * self.px)
        self.blanket_fabric = self._fabric(own, self.h, self.w, blanket, self._ink(blanket * own.uniform(0.5, 0.9) + own.uniform(-50, 50, 3)), own.uniform(0.15, 0.4) * self.px)
        self.blanket_reach = own.uniform(0.55, 0.95)  # how far down the thighs the blanket's hem lies, as a share of the legs
        self.covered = own.uniform() < 0.8  # most infants lie under a blanket

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        base = super()._background(rng)  # the same draws as the articulated renderer, then a sheet of its own
        sheet = np.asarray(self.colour(self.own.integers(90, 250, 3)))
        ink = self._sheet_ink(np.clip(sheet * self.own.uniform(0.6, 0.95), 0, 255), rng)
        cloth = self._fabric(self.own, self.h, self.w, sheet, ink, self.own.uniform(0.08, 0.25) * self.px)
        if self.rec.wide:  # the room stays; the sheet covers the mattress
            return np.where((self._mattress_mask() > 0)[..., None], cloth, base).astype(np.uint8)
        yy, xx = np.mgrid[0 : self.h, 0 : self.w]
        shade = 1 - 0.3 * (((xx - self.w / 2) / self.w) ** 2 + ((yy - self.h / 2) / self.h) ** 2)
        return np.clip(cloth * shade[..., None], 0, 255).astype(np.uint8)

    def _fabric(self, rng: np.random.Generator, h: int, w: int, base: np.ndarray, ink: np.ndarray, period: float) -> np.ndarray:
        """A ``[h, w, 3] float32`` texture for a cloth in the colours ``base`` and ``ink``: printed (``fabric``)."""
        return fabric(rng, h, w, base, ink, period)

    def _draw_infant(self, img: np.ndarray, m: np.ndarray, pts: dict[str, np.ndarray], yaw: float) -> None:
        look = self.look
        scale = math.hypot(m[0, 0], m[1, 0])

        def px(name: str) -> np.ndarray:
            return m[:, :2] @ pts[name] + m[:, 2]

        def capsule(mask: np.ndarray, a: np.ndarray, b: np.ndarray, width: float) -> None:
            cv2.line(mask, _pt(a), _pt(b), 255, max(1, int(round(width))), cv2.LINE_AA)

        limb = look.limb_w * scale
        skin_mask = np.zeros(img.shape[:2], np.uint8)
        cloth_mask = np.zeros(img.shape[:2], np.uint8)
        sleeves, legs_covered = look.clothing_style >= 1, look.clothing_style == 2
        for name in "lr":
            hip, knee, foot = px(f"hip_{name}"), px(f"knee_{name}"), px(f"foot_{name}")
            capsule(cloth_mask if legs_covered else skin_mask, hip, knee, limb * 1.35)
            capsule(cloth_mask if legs_covered else skin_mask, knee, foot, limb * 1.1)
            cv2.circle(skin_mask, _pt(foot), max(1, int(limb * 0.8)), 255, -1, cv2.LINE_AA)
        centre, half = px("trunk"), pts["trunk_half"] * scale
        angle = math.degrees(math.atan2(m[1, 0], m[0, 0]))
        cv2.ellipse(cloth_mask if look.clothing_style >= 1 else skin_mask, (_pt(centre), (2 * half[0] * 1.05, 2 * half[1]), angle), 255, -1, cv2.LINE_AA)
        if look.clothing_style == 0:
            lower = m[:, :2] @ np.array([0.0, pts["trunk_half"][1] * 0.65]) + m[:, 2]
            cv2.ellipse(cloth_mask, (_pt(lower), (2 * half[0], 0.9 * half[1]), angle), 255, -1, cv2.LINE_AA)
        self._paint(img, skin_mask, self._skin_fill(img.shape))
        self._paint(img, cloth_mask, self.cloth_fabric)
        if self.covered:
            self._blanket(img, m, pts, scale)
        arm_skin, arm_cloth = np.zeros(img.shape[:2], np.uint8), np.zeros(img.shape[:2], np.uint8)
        for name in "lr":
            shoulder, elbow, hand = px(f"shoulder_{name}"), px(f"elbow_{name}"), px(f"hand_{name}")
            capsule(arm_cloth if sleeves else arm_skin, shoulder, elbow, limb * 1.2)
            capsule(arm_cloth if legs_covered else arm_skin, elbow, hand, limb * 1.05)
            cv2.circle(arm_skin, _pt(hand), max(1, int(limb * 0.75)), 255, -1, cv2.LINE_AA)
        self._paint(img, arm_cloth, self.cloth_fabric)
        self._paint(img, arm_skin, self._skin_fill(img.shape))
        head, head_r = px("head"), float(pts["head_r"][0]) * scale
        head_mask = np.zeros(img.shape[:2], np.uint8)
        cv2.circle(head_mask, _pt(head), max(1, int(head_r)), 255, -1, cv2.LINE_AA)
        self._paint(img, head_mask, self._skin_fill(img.shape))
        up, right = body_axes(m)
        # Shading from the room's light: the far side of the head darker; hair as a soft dark crescent.
        cv2.ellipse(img, (_pt(head + up * head_r * 0.5), (1.6 * head_r, 0.9 * head_r), angle), self.colour(look.hair), -1, cv2.LINE_AA)
        for ex in (-0.35, 0.35):
            p = head + right * (ex + 0.25 * yaw) * head_r - up * 0.05 * head_r
            cv2.ellipse(img, (_pt(p), (0.22 * head_r, 0.12 * head_r), angle), self.colour((60, 45, 40)), -1, cv2.LINE_AA)

    def _blanket_polygon(self, m: np.ndarray, pts: dict[str, np.ndarray]) -> np.ndarray:
        """The blanket's outline ``[6, 2]`` in pixels: from the waist down over the thighs, its hem following the
        knees, so kicks move it; its first two corners are the fold at the waist."""
        trunk = pts["trunk_half"]
        top = trunk[1] * 0.35
        hems = [pts[f"hip_{n}"] + (pts[f"knee_{n}"] - pts[f"hip_{n}"]) * (1.0 + 0.6 * self.blanket_reach) for n in "lr"]
        width = trunk[0] * 1.25 + self.look.limb_w
        corners = [np.array([-width, top]), np.array([width, top]), np.array([width, hems[1][1]]), hems[1] + [0.25, 0.1], hems[0] + [-0.25, 0.1], np.array([-width, hems[0][1]])]
        return np.array([m[:, :2] @ c + m[:, 2] for c in corners], np.float32)

    def _blanket(self, img: np.ndarray, m: np.ndarray, pts: dict[str, np.ndarray], scale: float) -> None:
        """A blanket from the waist down over the thighs (``_blanket_polygon``), in a fabric fixed in the picture."""
        polygon = self._blanket_polygon(m, pts)
        mask = np.zeros(img.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 255, cv2.LINE_AA)
        self._paint(img, mask, self.blanket_fabric)
        # The fold along the waist: a soft shadow line.
        cv2.line(img, _pt(polygon[0]), _pt(polygon[1]), tuple(float(v) * 0.55 for v in self.blanket_fabric[0, 0]), max(1, int(0.06 * scale)), cv2.LINE_AA)

    def _skin_fill(self, shape: tuple[int, ...]) -> np.ndarray:
        skin = np.asarray(self.colour(self.look.skin, ir_boost=1.35), np.float32)
        return np.broadcast_to(skin, shape)

    @staticmethod
    def _paint(img: np.ndarray, mask: np.ndarray, fill: np.ndarray) -> None:
        """Blend ``fill`` into ``img`` where ``mask`` (0-255, anti-aliased edges) is set."""
        box = cv2.boundingRect(mask)
        x, y, w, h = box
        if w == 0 or h == 0:
            return
        alpha = mask[y : y + h, x : x + w, None].astype(np.float32) / 255.0
        region = img[y : y + h, x : x + w].astype(np.float32)
        img[y : y + h, x : x + w] = (region * (1 - alpha) + fill[y : y + h, x : x + w] * alpha).astype(np.uint8)


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))
