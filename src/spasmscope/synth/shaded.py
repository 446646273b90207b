"""The shaded renderer: a body of rounded, lit limbs with soft shadows, seen through a perspective camera.

Where the other renderers look straight down at a flat figure, this one lifts the pose into three dimensions (limbs
raised towards the camera rise off the surface; the head is a ball resting on it), looks at it from above or
obliquely, as a phone held over a changing table, a sofa or a lap films it (near parts larger, far parts smaller,
raised parts shifted up the picture), shades every limb as a lit rounded body, and casts its soft shadow on the
surface, which is itself seen in perspective. The motion, the hand-held camera's path, the sensor and the parent's
hand are the shared ones (``Scene``).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from spasmscope.synth.look import ARM_ELEV, LEG_ELEV, YAW, ChildLook, Recording
from spasmscope.synth.motion import Timeline
from spasmscope.synth.render import _ONE, _SHIFT, Scene, _box, _fx, own_generator
from spasmscope.synth.silhouette import fabric

OWN_TAG = 0x5AD  # first word of this renderer's own random draws, apart from the plan's
SURFACES = ("changing table", "sofa", "lap")
# Shading layers of a rounded part, outside in: (share of the radius, brightness, shift towards the light as a
# share of the radius). Nested strokes stand in for a lit cylinder's gradient at a fraction of a shader's cost.
LAYERS = ((1.0, 0.58, 0.0), (0.8, 0.78, 0.12), (0.58, 0.93, 0.22), (0.32, 1.08, 0.3))


class ShadedScene(Scene):
    """The shaded renderer (see the module docstring)."""

    name = "shaded"

    def __init__(self, look: ChildLook, rec: Recording, rng: np.random.Generator):
        self.own = own_generator(OWN_TAG, rng)
        own = self.own
        self.pitch = own.uniform(0.0, 0.9)  # radians from straight above: 0 to about 50 degrees
        self.distance = own.uniform(2.2, 5.0)  # camera distance in body units (trunk lengths): phones film close
        self.surface = SURFACES[int(own.integers(len(SURFACES)))]
        light = own.uniform(0, 2 * math.pi)
        self.light = np.array([math.cos(light), math.sin(light)])  # image direction the light comes from
        self.shadow = own.uniform(0.3, 0.6)  # darkness of the cast shadow
        super().__init__(look, rec, rng)

    @property
    def focal(self) -> float:
        """Pixels: one body unit at the camera's distance spans the framing's ``px`` pixels."""
        return self.px * self.distance

    @property
    def offset(self) -> np.ndarray:
        """Where the infant lies on the surface, body units from the point the camera looks at (the framing's)."""
        return (self.center - np.array([self.w / 2, self.h / 2])) / self.px

    # --- geometry ------------------------------------------------------------------------------
    def project(self, points: np.ndarray) -> np.ndarray:
        """World points ``[N, 3]`` (body units; z up from the surface) -> pixels ``[N, 2]`` before the hand-held
        camera's shake, and each point's depth ``[N]`` in body units."""
        s, c = math.sin(self.pitch), math.cos(self.pitch)
        rel = points - np.array([0.0, self.distance * s, self.distance * c])
        depth = rel @ np.array([0.0, -s, -c])
        right, down = rel[:, 0], rel @ np.array([0.0, c, -s])
        depth = np.maximum(depth, 0.05 * self.distance)
        return np.stack([self.focal * right / depth + self.w / 2, self.focal * down / depth + self.h / 2], axis=1), depth

    def points3d(self, tl: Timeline, k: int) -> dict[str, np.ndarray]:
        """The pose's key points in the world (``[3]`` each, body units): the flat skeleton turned and placed as
        the body lies, lifted where limbs rise towards the camera."""
        pose = tl.pose[k]
        flat = self.skeleton(pose)
        look = self.look
        bx, by, brot = tl.body[k]
        a = self.angle + brot
        turn = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        place = self.offset + np.array([bx, by])
        lift = {"head": float(flat["head_r"][0]) * 0.9, "trunk": look.trunk_w * 0.3}
        for side, name in enumerate("lr"):
            arm, leg = max(float(pose[ARM_ELEV[side]]), 0.0), max(float(pose[LEG_ELEV[side]]), 0.0)
            lift.update({f"shoulder_{name}": look.trunk_w * 0.3, f"elbow_{name}": 0.15 + 0.45 * arm * look.arm_len, f"hand_{name}": 0.1 + 0.8 * arm * look.arm_len,
                         f"hip_{name}": look.trunk_w * 0.25, f"knee_{name}": 0.12 + 0.55 * leg * look.leg_len, f"foot_{name}": 0.08 + 0.3 * leg * look.leg_len})  # fmt: skip
        return {n: np.array([*(turn @ v + place), lift[n]]) for n, v in flat.items() if n in lift}

    def key_points(self, tl: Timeline, k: int) -> dict[str, np.ndarray]:
        """The joints at frame ``k`` in pixels of the drawn frame, as this camera sees them (``Scene.key_points``)."""
        return dict(zip(self.points3d(tl, k), self._pixels(tl, k)[0], strict=True))

    def _pixels(self, tl: Timeline, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``points3d`` through the camera, shake included: pixels ``[N, 2]`` and depths ``[N]``."""
        pixels, depth = self.project(np.array(list(self.points3d(tl, k).values())))
        cam = self.camera(tl, k)
        return pixels @ cam[:, :2].T + cam[:, 2], depth

    def box(self, tl: Timeline, k: int) -> tuple[float, float, float, float]:
        """The infant's bounding box ``(x, y, w, h)`` in upright pixels at frame ``k``, as this camera sees it."""
        pixels, depth = self._pixels(tl, k)
        margin = self.look.limb_w * self.focal / float(depth.min()) + self.look.head_r * self.focal / float(depth.min()) * 0.5
        x, y, w, h = _box(list(pixels), margin, self.w, self.h)
        sx, sy = self.out_size[0] / self.w, self.out_size[1] / self.h
        return x * sx, y * sy, w * sx, h * sy

    # --- the surface ---------------------------------------------------------------------------
    def _background(self, rng: np.random.Generator) -> np.ndarray:
        """A wall or floor, and the surface the infant lies on, textured in its own plane and seen in perspective."""
        own, look = self.own, self.look
        # The shared framing's own background (the same draws as every renderer) stays beyond the surface: a room in
        # wide views, a blanket's pattern in close ones.
        img = super()._background(rng).astype(np.float32)
        size = 512
        base = np.asarray(self.colour(look.background), np.float32)
        ink = self._sheet_ink(self._ink(base * own.uniform(0.5, 0.9) + own.uniform(-40, 40, 3)).astype(np.float32), rng)
        texture = fabric(own, size, size, base, ink, own.uniform(0.03, 0.12) * size)
        extent = 3.0  # the surface spans [-extent, extent] body units each way around the infant
        if self.surface == "changing table":  # a padded mat: quilted seams across a plain cover
            for y in range(0, size, int(size * own.uniform(0.12, 0.2))):
                cv2.line(texture, (0, y), (size, y), tuple(float(v) for v in base * 0.75), 3, cv2.LINE_AA)
        elif self.surface == "lap":  # two thighs in trousers, the floor beyond them
            extent = 2.2
            floor = np.asarray(self.colour(own.integers(40, 160, 3)), np.float32)
            xx = np.abs(np.arange(size) - size / 2)[None, :] / (size / 2)
            gap = (xx < 0.05) | (xx > 0.8)
            texture[np.broadcast_to(gap, (size, size))] = floor
        # Lighting across the surface: brighter towards the light.
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
        texture *= (1.0 + 0.25 * (xx * self.light[0] + yy * self.light[1]) / 0.7)[..., None]
        # The surface stops before the horizon (points behind a tilted camera do not project).
        far = min(extent, 0.6 * self.distance / max(math.sin(self.pitch), 1e-3))
        corners = np.array([[-extent, -extent, 0.0], [extent, -extent, 0.0], [extent, far, 0.0], [-extent, far, 0.0]])
        corners[:, :2] += self.offset
        pixels, _ = self.project(corners)
        src = np.array([[0, 0], [size, 0], [size, size * (far + extent) / (2 * extent)], [0, size * (far + extent) / (2 * extent)]], np.float32)
        warp = cv2.getPerspectiveTransform(src, pixels.astype(np.float32))
        mask = cv2.warpPerspective(np.ones((size, size), np.float32), warp, (self.w, self.h))[..., None]
        plane = cv2.warpPerspective(texture, warp, (self.w, self.h))
        img = img * (1 - mask) + plane * mask
        return np.clip(img, 0, 255).astype(np.uint8)

    # --- drawing -------------------------------------------------------------------------------
    def render(self, tl: Timeline, k: int) -> np.ndarray:
        """Frame ``k``: upright RGB ``[H, W, 3] uint8``."""
        cam = self.camera(tl, k)
        img = cv2.warpAffine(self.background, cam, (self.w, self.h), borderMode=cv2.BORDER_REFLECT) if self.rec.handheld else self.background.copy()
        if tl.present is not None and not tl.present[k]:
            return self._finish(img, tl, k)
        pts = self.points3d(tl, k)
        names = list(pts)
        pixels, depth = self.project(np.array([pts[n] for n in names]))
        pixels = pixels @ cam[:, :2].T + cam[:, 2]
        zoom = math.hypot(cam[0, 0], cam[1, 0])
        at = {n: (pixels[i], self.focal * zoom / depth[i]) for i, n in enumerate(names)}  # pixels, pixels per body unit
        parts = self._parts(at)
        self._cast_shadow(img, pts, cam, zoom, parts)
        for _, a, b, radius, colour in sorted(parts, key=lambda p: -p[0]):  # far parts first
            self._rounded(img, a, b, radius, colour)
        self._face(img, at, pts, float(tl.pose[k][YAW]))
        if tl.hand[k, 0] > 0:
            self._parent_hand(img, tl.hand[k], at["trunk"][0], at["trunk"][1])
        return self._finish(img, tl, k)

    def _parts(self, at: dict[str, tuple[np.ndarray, float]]) -> list[tuple[float, np.ndarray, np.ndarray, float, tuple]]:
        """The body's rounded parts: (nearness rank, end, end, radius in pixels, colour), nearer parts later."""
        look = self.look
        skin = self.colour(look.skin, ir_boost=1.35)
        cloth = self.colour(look.clothing)
        covered, sleeve = look.clothing_style == 2, look.clothing_style >= 1
        trunk, scale = at["trunk"]
        parts = []

        def part(a: str, b: str, width: float, colour: tuple) -> None:
            (pa, sa), (pb, sb) = at[a], at[b]
            parts.append((-(sa + sb) / 2, pa, pb, width / 2 * (sa + sb) / 2, colour))

        for n in "lr":
            part(f"hip_{n}", f"knee_{n}", look.limb_w * 1.25, cloth if covered else skin)
            part(f"knee_{n}", f"foot_{n}", look.limb_w * 1.05, cloth if covered else skin)
            part(f"foot_{n}", f"foot_{n}", look.limb_w * 1.5, skin)
        # The trunk: a capsule along the body, from between the shoulders to between the hips.
        top = (at["shoulder_l"][0] + at["shoulder_r"][0]) / 2
        bottom = (at["hip_l"][0] + at["hip_r"][0]) / 2
        width = look.trunk_w * scale
        parts.append((-scale * 1.01, top + (trunk - top) * 0.2, bottom + (trunk - bottom) * 0.1, width / 2, cloth if sleeve else skin))
        for n in "lr":
            part(f"shoulder_{n}", f"elbow_{n}", look.limb_w * 1.15, cloth if sleeve else skin)
            part(f"elbow_{n}", f"hand_{n}", look.limb_w, cloth if covered else skin)
            part(f"hand_{n}", f"hand_{n}", look.limb_w * 1.4, skin)
        head, head_scale = at["head"]
        parts.append((-head_scale * 1.02, head, head, look.head_r * head_scale, skin))
        return parts

    def _rounded(self, img: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float, colour: tuple) -> None:
        """A lit rounded part from ``a`` to ``b`` (pixels) of ``radius`` pixels: nested strokes, lighter inwards and
        towards the light."""
        base = np.asarray(colour)
        for share, bright, shift in LAYERS:
            r = radius * share
            if r < 0.4:
                break
            o = self.light * radius * shift
            c = tuple(float(v) for v in np.clip(base * bright, 0, 255))
            pa, pb = _fx(a + o), _fx(b + o)
            if pa != pb:
                cv2.line(img, pa, pb, c, max(1, int(round(2 * r))), cv2.LINE_AA, _SHIFT)
            cv2.circle(img, pa, int(r * _ONE), c, -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(img, pb, int(r * _ONE), c, -1, cv2.LINE_AA, _SHIFT)

    def _cast_shadow(self, img: np.ndarray, pts: dict[str, np.ndarray], cam: np.ndarray, zoom: float, parts: list) -> None:
        """The body's soft shadow on the surface: every part's footprint, pushed away from the light by its height,
        blurred, darkening what lies under it."""
        names = list(pts)
        world = np.array([pts[n] for n in names])
        fall = np.zeros_like(world)
        fall[:, :2] = world[:, :2] - self.light * world[:, 2:3] * 0.8  # away from the light, further for higher parts
        ground, depth = self.project(fall)
        ground = ground @ cam[:, :2].T + cam[:, 2]
        radius = float(np.mean([p[3] for p in parts]))
        x0, y0 = np.floor(ground.min(axis=0) - 4 * radius).astype(int)
        x1, y1 = np.ceil(ground.max(axis=0) + 4 * radius).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.w), min(y1, self.h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.float32)
        at = {n: ground[i] - np.array([x0, y0]) for i, n in enumerate(names)}
        for a, b, width in (("hip_l", "foot_l", 1.1), ("hip_r", "foot_r", 1.1), ("shoulder_l", "hand_l", 1.0), ("shoulder_r", "hand_r", 1.0),
                            ("head", "head", 2 * self.look.head_r / self.look.limb_w), ("trunk", "trunk", self.look.trunk_w * 1.6 / self.look.limb_w)):  # fmt: skip
            r = self.look.limb_w * width / 2 * self.focal * zoom / float(depth.mean())
            cv2.line(mask, _fx(at[a]), _fx(at[b]), 1.0, max(1, int(2 * r)), cv2.LINE_AA, _SHIFT)
            cv2.circle(mask, _fx(at[a]), int(r * _ONE), 1.0, -1, cv2.LINE_AA, _SHIFT)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, radius * 0.8))
        roi = img[y0:y1, x0:x1]
        roi[:] = (roi * (1 - self.shadow * mask[..., None])).astype(np.uint8)

    def _face(self, img: np.ndarray, at: dict[str, tuple[np.ndarray, float]], pts: dict[str, np.ndarray], yaw: float) -> None:
        """Hair (or the EEG cap) on the top of the head and two closed eyes, on the side that faces the camera."""
        look = self.look
        head, scale = at["head"]
        r = look.head_r * scale
        up = pts["head"][:2] - pts["trunk"][:2]  # towards the top of the head, in the surface plane
        up3 = np.array([*(up / max(float(np.linalg.norm(up)), 1e-6)), 0.0])
        crown, _ = self.project(np.array([pts["head"] + up3 * look.head_r * 0.55, pts["head"]]))
        direction = crown[0] - crown[1]
        direction = direction / max(float(np.linalg.norm(direction)), 1e-6)
        angle = math.degrees(math.atan2(direction[1], direction[0])) + 90
        cap = self.colour((225, 225, 235)) if self.cap else self.colour(look.hair)
        top = head + direction * r * 0.45
        cv2.ellipse(img, _fx(top), (int(r * 0.85 * _ONE), int(r * (0.75 if self.cap else 0.55) * _ONE)), angle, 0, 360, cap, -1, cv2.LINE_AA, _SHIFT)
        right = np.array([-direction[1], direction[0]])
        eye = self.colour((35, 25, 20))
        for ex in (-0.38, 0.38):
            p = head + right * (ex + 0.25 * yaw) * r - direction * 0.1 * r
            cv2.circle(img, _fx(p), max(_ONE // 2, int(r * 0.11 * _ONE)), eye, -1, cv2.LINE_AA, _SHIFT)
