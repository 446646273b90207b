"""The splat renderer: a soft body whose print moves with it, on cloths of natural-image noise, in uneven light.

The other renderers give each cloth a texture fixed in the picture, through which the body's outline moves
(``silhouette``, ``photo``), or draw limbs in flat or shaded colour (``articulated``, ``shaded``). On a real infant the
print of a sleepsuit and the blotches of skin move with the limb. Here every body part carries its own print, a few
dozen soft dots fixed in the part's own coordinates (along the limb and across it), so a moving arm shows its texture
moving; the blanket's print is fixed to the body too. Edges are soft (the body's outline blurred, as a phone's focus
and a moving infant leave it), the infant casts a soft contact shadow, the sheet and the blanket are random fields
with a natural photograph's 1/f spectrum (slope drawn per recording) in a palette of three colours, and the light
falls off across the scene in a random direction. The framing, the camera, the sensor, the motion and the parent's
hand are the shared ones (``Scene``); the blanket's outline is the silhouette renderer's.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from spasmscope.synth.look import ChildLook, Recording
from spasmscope.synth.render import body_axes
from spasmscope.synth.silhouette import SilhouetteScene, _pt

# Body parts as (first point, second point, width as a share of the limb's, cloth when the clothing style is at least
# this, else skin; 3 = never cloth), in drawing order: legs, trunk, arms, head.
PARTS = (
    ("hip_{}", "knee_{}", 1.35, 2), ("knee_{}", "foot_{}", 1.1, 2), ("foot_{}", "foot_{}", 1.6, 3),
    ("neck", "pelvis", 0.0, 1),
    ("shoulder_{}", "elbow_{}", 1.2, 1), ("elbow_{}", "hand_{}", 1.05, 2), ("hand_{}", "hand_{}", 1.5, 3),
)  # fmt: skip
DOTS = 40  # print dots per part
BLANKET_SPAN = 5.0  # body units that the blanket's texture spans along its longer side


def spectral_noise(rng: np.random.Generator, h: int, w: int, slope: float) -> np.ndarray:
    """A ``[h, w] float32`` random field in 0-1 whose power falls as ``1 / f ** slope`` (photographs: about 2)."""
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    spectrum = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) * f ** (-slope / 2)
    spectrum[0, 0] = 0
    field = np.fft.irfft2(spectrum, s=(h, w))
    lo, hi = np.percentile(field, [2, 98])
    return np.clip((field - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)


def palette_map(values: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Values ``[h, w]`` in 0-1 -> ``[h, w, 3] float32`` colours, interpolated along ``colours`` ``[k, 3]``."""
    stops = np.linspace(0, 1, len(colours))
    return np.stack([np.interp(values, stops, colours[:, c]) for c in range(3)], axis=2).astype(np.float32)


class SplatScene(SilhouetteScene):
    """The splat renderer (see the module docstring)."""

    name = "splat"

    def __init__(self, look: ChildLook, rec: Recording, rng: np.random.Generator):
        super().__init__(look, rec, rng)
        # The silhouette renderer's ``cloth_fabric`` is drawn above and never painted here. Its draws from ``own`` come
        # before every draw below, so leaving it out would change every splat recording, the shipped backbone's
        # pretraining clips among them.
        own = self.own
        self.softness = own.uniform(0.05, 0.25)  # blur of the body's outline, as a share of a limb's width
        self.shadow = (own.uniform(0.15, 0.5), own.uniform(-0.3, 0.3, 2))  # darkness, offset in limb widths
        light = own.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0 : self.h, 0 : self.w].astype(np.float32)
        across = ((xx - self.w / 2) * math.cos(light) + (yy - self.h / 2) * math.sin(light)) / max(self.w, self.h)
        self.light_field = (1 + own.uniform(0.1, 0.7) * across)[..., None]
        self.background = np.clip(self.background * self.light_field, 0, 255).astype(np.uint8)
        cloth = np.asarray(self.colour(look.clothing))
        self.inks = np.stack([cloth, *(self._ink(cloth * own.uniform(0.35, 1.5) + own.uniform(-20, 20)) for _ in range(2))])  # the print's colours
        self.print_kind = int(own.integers(3))  # 0 dots, 1 stripes across the limb, 2 blotches
        self.dots = {(a, side): self._dots(own) for a, _, _, _ in [*PARTS, ("head", "", 0, 0)] for side in ("lr" if "{}" in a else "c")}

    def _dots(self, rng: np.random.Generator) -> np.ndarray:
        """``[DOTS, 4]``: along the part (0-1), across it (-1 to 1), radius as a share of its width, which ink."""
        along = rng.uniform(0, 1, DOTS)
        if self.print_kind == 1:  # stripes: dots in rows across the limb
            along = np.round(along * rng.integers(3, 7)) / 6
        radius = rng.uniform(0.08, 0.2, DOTS) * (2.2 if self.print_kind == 2 else 1.0)
        return np.stack([along, rng.uniform(-0.85, 0.85, DOTS), radius, rng.integers(1, 3, DOTS)], axis=1)

    def _fabric(self, rng: np.random.Generator, h: int, w: int, base: np.ndarray, ink: np.ndarray, period: float) -> np.ndarray:
        """A cloth of natural-image noise in three colours: ``ink``, ``base`` and a third between or beyond them."""
        third = self._ink((base + ink) / 2 * rng.uniform(0.6, 1.4))
        colours = np.stack([ink, base, third])[rng.permutation(3)]
        return palette_map(spectral_noise(rng, h, w, rng.uniform(1.4, 3.0)), colours)

    def _draw_infant(self, img: np.ndarray, m: np.ndarray, pts: dict[str, np.ndarray], yaw: float) -> None:
        look = self.look
        scale = math.hypot(m[0, 0], m[1, 0])
        limb = look.limb_w * scale
        trunk = pts["trunk_half"]
        points = {**pts, "neck": np.array([0.0, -trunk[1] * 0.85]), "pelvis": np.array([0.0, trunk[1] * 0.85])}
        colour = np.zeros(img.shape, np.float32)  # the body's colours where ``alpha`` is set
        alpha = np.zeros(img.shape[:2], np.float32)
        skin = np.asarray(self.colour(look.skin, ir_boost=1.35), np.float32)
        for a, b, width, cloth_from in PARTS:
            for side in "lr" if "{}" in a else "c":
                p, q = (m[:, :2] @ points[n.format(side)] + m[:, 2] for n in (a, b))
                w = (width * limb) if width else 2 * trunk[0] * scale
                clothed = look.clothing_style >= cloth_from
                base = self.inks[0] if clothed else skin
                self._part(colour, alpha, p, q, w, base, self.dots[(a, side)], clothed)
        head = m[:, :2] @ pts["head"] + m[:, 2]
        head_r = float(pts["head_r"][0]) * scale
        up, right = body_axes(m)
        self._part(colour, alpha, head, head, 2 * head_r, skin, self.dots[("head", "c")], False)
        hair = np.asarray(self.colour(look.hair), np.float32)
        cv2.circle(colour, _pt(head + up * head_r * 0.55), max(1, int(head_r * 0.6)), hair.tolist(), -1, cv2.LINE_AA)
        for ex in (-0.35, 0.35):
            cv2.circle(colour, _pt(head + right * (ex + 0.25 * yaw) * head_r), max(1, int(head_r * 0.12)), self.colour((50, 35, 30)), -1, cv2.LINE_AA)
        self._composite(img, colour, alpha, limb)
        if self.covered:
            self._blanket(img, m, pts, scale)

    def _part(self, colour: np.ndarray, alpha: np.ndarray, p: np.ndarray, q: np.ndarray, width: float, base: np.ndarray, dots: np.ndarray, clothed: bool) -> None:
        """One part as a capsule from ``p`` to ``q`` (a disc when they meet) of ``width`` pixels, in ``base``, with
        its print: cloth in the print's inks, skin in faint blotches of its own tone."""
        thick = max(1, int(round(width)))
        cv2.line(alpha, _pt(p), _pt(q), 1.0, thick, cv2.LINE_AA)
        cv2.line(colour, _pt(p), _pt(q), base.tolist(), thick, cv2.LINE_AA)
        along = q - p
        length = float(np.hypot(*along))
        normal = np.array([-along[1], along[0]]) / length if length > 1e-6 else np.array([0.0, 1.0])
        centres = np.round(p + dots[:, :1] * along + dots[:, 1:2] * normal * width / 2).astype(int).tolist()
        radii = np.maximum(1, (dots[:, 2] * width).astype(int)).tolist()
        ink = dots[:, 3].astype(int)
        tones = self.inks[ink] if clothed else base * np.where(ink == 1, 0.92, 1.07)[:, None]
        for centre, r, tone in zip(centres, radii, np.clip(tones, 0, 255).tolist(), strict=True):
            cv2.circle(colour, centre, r, tone, -1, cv2.LINE_AA)

    def _composite(self, img: np.ndarray, colour: np.ndarray, alpha: np.ndarray, limb: float) -> None:
        """Lay the body (``colour`` where ``alpha``) on ``img`` with soft edges and a soft shadow, in the scene's
        light; only the body's surroundings are touched."""
        sigma = max(0.5, self.softness * limb)
        darkness, offset = self.shadow
        pad = int(3 * sigma + 2 * limb)
        x, y, w, h = cv2.boundingRect((alpha > 0).astype(np.uint8))
        if w == 0:
            return
        x0, y0, x1, y1 = max(x - pad, 0), max(y - pad, 0), min(x + w + pad, img.shape[1]), min(y + h + pad, img.shape[0])
        a, c = alpha[y0:y1, x0:x1], colour[y0:y1, x0:x1]
        soft = cv2.GaussianBlur(a, (0, 0), sigma)
        # Normalised blur: the body's colours spread to its softened edge without darkening towards the background.
        body = cv2.GaussianBlur(c * a[..., None], (0, 0), sigma) / np.maximum(soft, 1e-3)[..., None]
        shift = np.float32([[1, 0, offset[0] * limb], [0, 1, offset[1] * limb]])
        shade = cv2.GaussianBlur(cv2.warpAffine(a, shift, (a.shape[1], a.shape[0])), (0, 0), 2 * sigma)
        region = img[y0:y1, x0:x1].astype(np.float32) * (1 - darkness * shade)[..., None]  # the background is lit already
        out = region * (1 - soft[..., None]) + body * self.light_field[y0:y1, x0:x1] * soft[..., None]
        img[y0:y1, x0:x1] = np.clip(out, 0, 255).astype(np.uint8)

    def _blanket(self, img: np.ndarray, m: np.ndarray, pts: dict[str, np.ndarray], scale: float) -> None:
        """The silhouette renderer's blanket, its print fixed to the body (the texture follows the body's turns and
        shifts), with a soft hem."""
        mask = np.zeros(img.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(self._blanket_polygon(m, pts)).astype(np.int32)], 255, cv2.LINE_AA)
        x, y, w, h = cv2.boundingRect(mask)
        if w == 0 or h == 0:
            return
        sigma = max(0.5, 0.05 * scale)
        pad = int(3 * sigma) + 1
        x, y = max(x - pad, 0), max(y - pad, 0)
        w, h = min(w + 2 * pad, img.shape[1] - x), min(h + 2 * pad, img.shape[0] - y)
        # Texture pixels -> body units -> picture pixels, so the print moves as the body does.
        side = BLANKET_SPAN / max(self.w, self.h)
        to_body = np.array([[side, 0, -side * self.w / 2], [0, side, -side * self.h / 2], [0, 0, 1]])
        warp = (m @ to_body)[:2] - np.array([[0, 0, x], [0, 0, y]])
        texture = cv2.warpAffine(self.blanket_fabric, warp, (w, h), borderMode=cv2.BORDER_REFLECT)
        soft = cv2.GaussianBlur(mask[y : y + h, x : x + w].astype(np.float32) / 255, (0, 0), sigma)[..., None]
        region = img[y : y + h, x : x + w].astype(np.float32)
        light = self.light_field[y : y + h, x : x + w]
        img[y : y + h, x : x + w] = np.clip(region * (1 - soft) + texture * light * soft, 0, 255).astype(np.uint8)

