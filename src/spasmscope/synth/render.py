"""Draw synthetic infant video frames: a supine infant seen from above, on a blanket or in a cot.

The infant is a 2-D articulated figure (trunk, head, upper and lower limbs, hands and feet) posed by
``Timeline.pose``; a camera transform moves the whole scene. Drawing uses OpenCV with sub-pixel
coordinates (``shift``) so that small infants in wide views still move smoothly.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from spasmscope.synth.look import ARM_ELEV, ELBOW, HIP, KNEE, LEG_ELEV, NECK, SHOULDER, TRUNK, YAW, ChildLook, Recording
from spasmscope.synth.motion import Timeline

_SHIFT = 4  # OpenCV fixed-point bits for sub-pixel drawing
_ONE = 1 << _SHIFT
BODY_UNITS = 2.6  # head top to feet in body units (trunk length = 1), at rest


def infrared(colours: tuple[int, int, int] | np.ndarray) -> np.ndarray:
    """What a monochrome infrared camera records of ``colours`` ``[..., 3]`` (0-255, float or integer): their luma,
    the same in all three channels, as float64. Every renderer greys its night colours and textures here."""
    c = np.asarray(colours, dtype=np.float64)
    luma = 0.3 * c[..., 0] + 0.59 * c[..., 1] + 0.11 * c[..., 2]
    return np.repeat(luma[..., None], 3, axis=-1)


PRINT_TAG = 0xB01D  # first word of a sheet's bold print colour (``Scene._sheet_ink``), apart from every renderer's own draws


class Scene:
    """One recording's fixed drawing state: background, palette, framing and noise; and the articulated renderer.

    Renderers of the family (``synth.renderers``) are subclasses: they share the framing, the camera, the key points
    of a pose, the parent's hand and the sensor, and draw the infant (``_draw_infant``) and its surroundings their
    own way. Their own random draws come from a generator of their own, so a plan's motion is the same whichever
    renderer draws it."""

    name = "articulated"

    def __init__(self, look: ChildLook, rec: Recording, rng: np.random.Generator):
        self.look, self.rec = look, rec
        self.out_size = (rec.width, rec.height)
        # A soft recording is drawn small and scaled up: cheaper than a Gaussian blur of the full frame,
        # and how soft phone video usually arises (digital zoom, low-resolution sensors, upscaling).
        soften = 1.0 + rec.blur
        self.w, self.h = int(rec.width / soften) // 2 * 2, int(rec.height / soften) // 2 * 2
        short = min(self.w, self.h)
        if rec.wide:
            body_frac = rng.uniform(0.2, 0.3)  # infant is small in a wide view
        else:
            body_frac = look.distance * rng.uniform(0.92, 1.08)
        self.px = body_frac * short / BODY_UNITS  # pixels per body unit
        spread = 0.5 - body_frac / 2
        self.center = np.array([self.w / 2, self.h / 2]) + rng.uniform(-1, 1, 2) * spread * 0.5 * np.array([self.w, self.h]) * (
            0.6 if rec.wide else 0.25
        )
        self.angle = look.angle + rng.normal(0, 0.15)
        exposure = rng.uniform(0.6, 1.15)
        self.gain = np.asarray(look.lighting) * exposure
        if rec.night:
            self.gain = np.full(3, rng.uniform(0.35, 0.6))
            # Sensor noise of a monochrome infrared camera: the same in all three channels.
            sigma = rng.uniform(5, 10)
            self.noise = [np.repeat(rng.normal(0, sigma, (rec.height, rec.width, 1)), 3, axis=2).astype(np.int16) for _ in range(6)]
        else:
            self.noise = []
        self.background = self._background(rng)
        self.cap = rec.wide and rng.uniform() < 0.8  # EEG cap on the head in video-EEG rooms
        self.rng = rng

    # --- colours -------------------------------------------------------------------------------
    def colour(self, c: tuple[int, int, int] | np.ndarray, ir_boost: float = 1.0) -> tuple[float, float, float]:
        """Scene colour after lighting (and the grey infrared look at night); skin glows under IR."""
        c = np.asarray(c, dtype=np.float64)
        if self.rec.night:
            c = infrared(c) * ir_boost
        return tuple(float(v) for v in np.clip(c * self.gain, 0, 255))  # type: ignore[return-value]

    def _sheet_ink(self, tone: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The second colour of the sheet's print: ``tone`` (a shade of the sheet's own colour) drawn towards a colour of
        its own by ``look.print_contrast``. The colour comes from a generator of its own (``PRINT_TAG``), so a
        sheet at 0 and every other draw are as they were."""
        contrast = self.look.print_contrast
        if contrast == 0:
            return tone
        other = np.asarray(self.colour(own_generator(PRINT_TAG, rng).integers(0, 256, 3)))
        return self._ink(tone * (1 - contrast) + other * contrast).astype(tone.dtype)

    def _ink(self, colour: np.ndarray) -> np.ndarray:
        """A print's second colour, within 0-255 and grey at night: an infrared camera sees no colour
        (``infrared``), so a shift of the channels drawn for the day's colours must not tint it."""
        colour = np.clip(colour, 0, 255)
        return infrared(colour) if self.rec.night else colour

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        look = self.look
        img = np.empty((self.h, self.w, 3), np.uint8)
        img[:] = self.colour(look.background)
        period = max(4, int(look.pattern_scale * self.px))
        c2 = self.colour(look.background2)
        if look.pattern == 1:
            for x in range(-self.h, self.w + self.h, 2 * period):
                cv2.line(img, (x, 0), (x + self.h // 2, self.h), c2, max(1, period // 2), cv2.LINE_AA)
        elif look.pattern == 2:
            for x in range(0, self.w, 2 * period):
                img[:, x : x + period] = (img[:, x : x + period] * 0.6 + np.asarray(c2) * 0.4).astype(np.uint8)
            for y in range(0, self.h, 2 * period):
                img[y : y + period] = (img[y : y + period] * 0.7 + np.asarray(c2) * 0.3).astype(np.uint8)
        elif look.pattern == 3:
            for y in range(0, self.h, period * 2):
                for x in range((y // period) % 2 * period, self.w, period * 2):
                    cv2.circle(img, (x, y), max(1, period // 3), c2, -1, cv2.LINE_AA)
        if self.rec.wide:
            img = self._room(img, rng)
        # Soft shading so the background is not perfectly flat.
        yy, xx = np.mgrid[0 : self.h, 0 : self.w]
        shade = 1 - 0.25 * (((xx - self.w / 2) / self.w) ** 2 + ((yy - self.h / 2) / self.h) ** 2)
        return np.clip(img * shade[..., None], 0, 255).astype(np.uint8)

    def _room(self, mattress: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Wide view: a room wall, a cot with rails, and the infant's mattress (the blanket pattern)."""
        img = np.empty_like(mattress)
        img[:] = self.colour(rng.integers(60, 200, 3))
        x0, y0, x1, y1 = self._mattress_box()
        img[y0:y1, x0:x1] = mattress[y0:y1, x0:x1]
        rail = self.colour(rng.integers(150, 255, 3))
        thick = max(2, int(self.px * 0.08))
        cv2.rectangle(img, (x0, y0), (x1, y1), rail, thick)
        for x in range(x0, x1, max(6, int(self.px * 0.25))):
            cv2.line(img, (x, max(0, y0 - int(self.px * 0.6))), (x, y0), rail, max(1, thick // 2))
        # Monitoring equipment beside the cot: a dark box with a lit screen.
        bx = int(rng.uniform(0.05, 0.2) * self.w) if self.center[0] > self.w / 2 else int(rng.uniform(0.75, 0.9) * self.w)
        by = int(rng.uniform(0.1, 0.6) * self.h)
        bw, bh = int(0.08 * self.w), int(0.12 * self.h)
        cv2.rectangle(img, (bx, by), (bx + bw, by + bh), self.colour((40, 40, 45)), -1)
        cv2.rectangle(img, (bx + 3, by + 3), (bx + bw - 3, by + bh // 2), self.colour((90, 160, 120)), -1)
        return img

    def _mattress_box(self) -> tuple[int, int, int, int]:
        """The wide view's mattress (the cot's inside) as ``(x0, y0, x1, y1)`` pixels, cut to the frame."""
        half = self.px * np.array([1.2, 1.6]) * 1.3
        (x0, y0), (x1, y1) = (self.center - half).astype(int), (self.center + half).astype(int)
        return max(int(x0), 0), max(int(y0), 0), min(int(x1), self.w), min(int(y1), self.h)

    def _mattress_mask(self) -> np.ndarray:
        """``[h, w] uint8``: 1 on the wide view's mattress (``_mattress_box``), 0 elsewhere."""
        mask = np.zeros((self.h, self.w), np.uint8)
        x0, y0, x1, y1 = self._mattress_box()
        mask[y0:y1, x0:x1] = 1
        return mask

    # --- geometry ------------------------------------------------------------------------------
    def _transform(self, tl: Timeline, k: int) -> np.ndarray:
        """2x3 affine from body units to image pixels at frame ``k`` (body placement then camera)."""
        bx, by, brot = tl.body[k]
        a = self.angle + brot
        s = self.px
        body = np.array([[s * math.cos(a), -s * math.sin(a), self.center[0] + bx * s], [s * math.sin(a), s * math.cos(a), self.center[1] + by * s]])
        return self.camera(tl, k) @ np.vstack([body, [0, 0, 1]])

    def camera(self, tl: Timeline, k: int) -> np.ndarray:
        """2x3 affine by which the hand-held camera has moved the scene at frame ``k`` (shift, roll and zoom about the
        centre), in the scene's drawing pixels (``self.w`` x ``self.h``, before the resize to the recording's size)."""
        dx, dy, rot, zoom = tl.camera[k]
        short = min(self.w, self.h)
        c = np.array([self.w / 2, self.h / 2])
        m = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), math.degrees(rot), float(zoom))
        m[:, 2] += np.array([dx, dy]) * short
        return m

    def skeleton(self, pose: np.ndarray) -> dict[str, np.ndarray]:
        """Body-unit key points for one pose; y points to the feet, x to the infant's left."""
        look = self.look
        p = pose
        trunk_half = 0.5 * (1 - 0.12 * p[TRUNK])
        pts: dict[str, np.ndarray] = {"trunk": np.array([0.0, 0.0]), "trunk_half": np.array([look.trunk_w / 2, trunk_half])}
        neck_flex = p[NECK]
        pts["head"] = np.array([0.08 * p[YAW], -trunk_half - look.head_r * (1.0 - 0.45 * neck_flex)])
        pts["head_r"] = np.array([look.head_r * (1 - 0.08 * neck_flex)])
        for side, sgn in ((0, -1.0), (1, 1.0)):
            name = "lr"[side]
            shoulder = np.array([sgn * look.trunk_w * 0.45, -trunk_half * 0.78])
            a = p[SHOULDER[side]]
            elev = p[ARM_ELEV[side]]
            ua = look.arm_len * 0.5 * (1 - 0.55 * max(elev, 0))
            elbow = shoulder + ua * np.array([sgn * math.cos(a), -math.sin(a)]) + np.array([-sgn * 0.12 * elev, 0.0])
            a2 = a + p[ELBOW[side]]
            fa = look.arm_len * 0.5 * (1 - 0.35 * max(elev, 0))
            hand = elbow + fa * np.array([sgn * math.cos(a2), -math.sin(a2)]) + np.array([-sgn * 0.1 * elev, 0.0])
            hip = np.array([sgn * look.trunk_w * 0.28, trunk_half * 0.85])
            b = p[HIP[side]]
            lift = p[LEG_ELEV[side]]
            th = look.leg_len * 0.5 * (1 - 0.6 * max(lift, 0))
            knee = hip + th * np.array([sgn * math.sin(b), math.cos(b)]) + np.array([0.0, -0.25 * max(lift, 0)])
            b2 = b - p[KNEE[side]]
            sh = look.leg_len * 0.5 * (1 - 0.3 * max(lift, 0))
            foot = knee + sh * np.array([sgn * math.sin(b2), math.cos(b2)])
            pts.update({f"shoulder_{name}": shoulder, f"elbow_{name}": elbow, f"hand_{name}": hand})
            pts.update({f"hip_{name}": hip, f"knee_{name}": knee, f"foot_{name}": foot})
        return pts

    # --- drawing -------------------------------------------------------------------------------
    def key_points(self, tl: Timeline, k: int) -> dict[str, np.ndarray]:
        """Where the skeleton's joints (``skeleton``'s points: head, shoulders, elbows, hands, hips, knees, feet and
        trunk centre) are at frame ``k``, in pixels of the drawn frame (``self.w`` x ``self.h``): what a pose
        estimator would ideally find."""
        m = self._transform(tl, k)
        return {n: m[:, :2] @ v + m[:, 2] for n, v in self.skeleton(tl.pose[k]).items() if n not in ("trunk_half", "head_r")}

    def box(self, tl: Timeline, k: int) -> tuple[float, float, float, float]:
        """The infant's bounding box ``(x, y, w, h)`` in upright pixels at frame ``k``."""
        m = self._transform(tl, k)
        pts = self.skeleton(tl.pose[k])
        scale = math.hypot(m[0, 0], m[1, 0])
        points = list(self.key_points(tl, k).values())
        margin = self.look.limb_w * scale + float(pts["head_r"][0]) * scale * 0.5
        x, y, w, h = _box(points, margin, self.w, self.h)
        sx, sy = self.out_size[0] / self.w, self.out_size[1] / self.h
        return x * sx, y * sy, w * sx, h * sy

    def render(self, tl: Timeline, k: int) -> np.ndarray:
        """Frame ``k``: upright RGB ``[H, W, 3] uint8``."""
        cam = self.camera(tl, k)
        moving = self.rec.handheld
        if moving:
            img = cv2.warpAffine(self.background, cam, (self.w, self.h), borderMode=cv2.BORDER_REFLECT)
        else:
            img = self.background.copy()
        if tl.present is not None and not tl.present[k]:
            return self._finish(img, tl, k)  # the infant was taken out of the cot
        m = self._transform(tl, k)
        pts = self.skeleton(tl.pose[k])
        self._draw_infant(img, m, pts, float(tl.pose[k][YAW]))
        if tl.hand[k, 0] > 0:
            scale = math.hypot(m[0, 0], m[1, 0])
            self._parent_hand(img, tl.hand[k], m[:, :2] @ pts["trunk"] + m[:, 2], scale)
        return self._finish(img, tl, k)

    def _draw_infant(self, img: np.ndarray, m: np.ndarray, pts: dict[str, np.ndarray], yaw: float) -> None:
        """Draw the infant posed at key points ``pts`` (body units) through the affine ``m`` (body units -> pixels)
        onto ``img``, in place: this renderer's drawing, an articulated figure of lines and discs."""
        look = self.look

        def px(name: str) -> np.ndarray:
            return m[:, :2] @ pts[name] + m[:, 2]

        scale = math.hypot(m[0, 0], m[1, 0])  # pixels per body unit, zoom included
        skin = self.colour(look.skin, ir_boost=1.35)
        cloth = self.colour(look.clothing)
        limb_px = look.limb_w * scale
        covered_limbs = look.clothing_style == 2
        sleeve = look.clothing_style >= 1

        def seg(a: np.ndarray, b: np.ndarray, colour, width: float) -> None:
            w = max(1, int(round(width)))
            cv2.line(img, _fx(a), _fx(b), colour, w, cv2.LINE_AA, _SHIFT)
            r = int(width / 2 * _ONE)
            if r >= _ONE // 2:
                cv2.circle(img, _fx(a), r, colour, -1, cv2.LINE_AA, _SHIFT)
                cv2.circle(img, _fx(b), r, colour, -1, cv2.LINE_AA, _SHIFT)

        for name in "lr":
            hip, knee, foot = px(f"hip_{name}"), px(f"knee_{name}"), px(f"foot_{name}")
            seg(hip, knee, cloth if covered_limbs else skin, limb_px * 1.25)
            seg(knee, foot, cloth if covered_limbs else skin, limb_px * 1.05)
            cv2.circle(img, _fx(foot), int(limb_px * 0.75 * _ONE), skin, -1, cv2.LINE_AA, _SHIFT)

        centre = px("trunk")
        half = pts["trunk_half"] * scale
        angle = math.degrees(math.atan2(m[1, 0], m[0, 0]))
        trunk_colour = cloth if look.clothing_style >= 1 else skin
        cv2.ellipse(img, _fx(centre), (int(half[0] * _ONE), int(half[1] * _ONE)), angle, 0, 360, trunk_colour, -1, cv2.LINE_AA, _SHIFT)
        if look.clothing_style == 0:  # diaper
            lower = m[:, :2] @ np.array([0.0, pts["trunk_half"][1] * 0.7]) + m[:, 2]
            cv2.ellipse(
                img, _fx(lower), (int(half[0] * 0.95 * _ONE), int(half[1] * 0.4 * _ONE)), angle, 0, 360, self.colour((235, 235, 230)), -1, cv2.LINE_AA, _SHIFT
            )

        for name in "lr":
            shoulder, elbow, hand = px(f"shoulder_{name}"), px(f"elbow_{name}"), px(f"hand_{name}")
            seg(shoulder, elbow, cloth if sleeve else skin, limb_px * 1.15)
            seg(elbow, hand, cloth if covered_limbs else skin, limb_px)
            cv2.circle(img, _fx(hand), int(limb_px * 0.7 * _ONE), skin, -1, cv2.LINE_AA, _SHIFT)

        head = px("head")
        head_r = float(pts["head_r"][0]) * scale
        cv2.circle(img, _fx(head), int(head_r * _ONE), skin, -1, cv2.LINE_AA, _SHIFT)
        up, right = body_axes(m)
        top = head + up * head_r * 0.45
        cap_colour = self.colour((225, 225, 235)) if self.cap else self.colour(look.hair)
        cv2.ellipse(
            img, _fx(top), (int(head_r * 0.85 * _ONE), int(head_r * (0.75 if self.cap else 0.55) * _ONE)), angle, 0, 360, cap_colour, -1, cv2.LINE_AA, _SHIFT
        )
        if self.cap:
            for ex, ey in ((-0.5, 0.3), (0.0, 0.55), (0.5, 0.3), (-0.3, 0.0), (0.3, 0.0)):
                p = head + (right * ex + up * ey) * head_r
                cv2.circle(img, _fx(p), max(_ONE, int(head_r * 0.12 * _ONE)), self.colour((30, 30, 30)), -1, cv2.LINE_AA, _SHIFT)
        eye_colour = self.colour((35, 25, 20))
        for ex in (-0.38, 0.38):
            p = head + right * (ex + 0.25 * yaw) * head_r - up * 0.1 * head_r
            cv2.circle(img, _fx(p), max(_ONE // 2, int(head_r * 0.11 * _ONE)), eye_colour, -1, cv2.LINE_AA, _SHIFT)

    def _finish(self, img: np.ndarray, tl: Timeline, k: int) -> np.ndarray:
        """Scale to the recording size, dim the room light, add sensor noise."""
        if (self.w, self.h) != self.out_size:
            img = cv2.resize(img, self.out_size, interpolation=cv2.INTER_LINEAR)
        if tl.light is not None and tl.light[k] != 1.0:
            img = cv2.convertScaleAbs(img, alpha=float(tl.light[k]))
        if self.noise:
            img = cv2.add(img, self.noise[int(self.rng.integers(len(self.noise)))], dtype=cv2.CV_8U)
        return img

    def _parent_hand(self, img: np.ndarray, hand: np.ndarray, target: np.ndarray, scale: float) -> None:
        """A parent's forearm and hand reaching from outside the frame towards the infant's trunk."""
        _, reach, entry, spread = hand
        direction = np.array([math.cos(entry), math.sin(entry)])
        far = target + direction * max(self.w, self.h)
        wrist = far + (target - far) * (0.55 + 0.42 * reach) - direction * 0.25 * scale
        colour = self.colour(self.look.parent_skin, ir_boost=1.3)
        width = 0.45 * scale
        cv2.line(img, _fx(far), _fx(wrist), colour, max(1, int(width)), cv2.LINE_AA, _SHIFT)
        palm = wrist - direction * 0.3 * scale
        cv2.circle(img, _fx(palm), int(0.28 * scale * _ONE), colour, -1, cv2.LINE_AA, _SHIFT)
        normal = np.array([-direction[1], direction[0]])
        for i in range(4):
            offset = (i - 1.5) * (0.1 + 0.08 * spread)
            base = palm + normal * offset * scale
            tip = base - (direction + normal * offset * 0.6) * 0.35 * scale
            cv2.line(img, _fx(base), _fx(tip), colour, max(1, int(0.1 * scale)), cv2.LINE_AA, _SHIFT)


def body_axes(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(up, right)``: the image directions, each ``[2]`` of unit length, of the infant's head and of its left side
    (``skeleton``'s -y and x; the picture's right for an infant lying face up with its head at the top), from the
    body-to-pixel map ``m`` ``[2, 3]`` (rotation, zoom and shift)."""
    scale = max(math.hypot(m[0, 0], m[1, 0]), 1e-6)
    return -m[:, 1] / scale, m[:, 0] / scale


def own_generator(tag: int, rng: np.random.Generator) -> np.random.Generator:
    """A renderer's own random draws, seeded by its ``tag`` and the plan's generator's state without advancing it:
    the motion drawn after the scene is the same whichever renderer draws it."""
    return np.random.default_rng([tag, int(rng.bit_generator.state["state"]["state"])])


def _fx(p: np.ndarray) -> tuple[int, int]:
    """Pixel coordinates as OpenCV fixed point."""
    return int(round(float(p[0]) * _ONE)), int(round(float(p[1]) * _ONE))


def _box(points: list[np.ndarray], margin: float, w: int, h: int) -> tuple[float, float, float, float]:
    p = np.array(points)
    x0, y0 = np.clip(p.min(axis=0) - margin, 0, [w, h])
    x1, y1 = np.clip(p.max(axis=0) + margin, 0, [w, h])
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)
