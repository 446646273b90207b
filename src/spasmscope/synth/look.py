"""What a synthetic child and a synthetic recording look like, sampled once from a seed.

A child's look (body, colours, background, camera habits, spasm style) is fixed across all of its
videos, so a segment-level split would leak identity while a child-level split does not. A
recording's settings (orientation, resolution, rate, bitrate, blur, night, wide view) vary per video.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

# Pose vector layout (see ``pose.py``): one row per frame.
NECK, TRUNK, YAW = 0, 1, 2
SHOULDER, ELBOW, ARM_ELEV = (3, 4), (5, 6), (7, 8)  # (left, right)
HIP, KNEE, LEG_ELEV = (9, 10), (11, 12), (13, 14)
N_POSE = 15

# Spasm patterns as pose offsets at full contraction (symmetric by construction: same value both sides).
# Flexor: head and trunk flex, arms come up and in towards the camera, legs pull up to the belly.
# Extensor: head and trunk arch, arms fling out and up straight, legs straighten.
_FLEXOR = {NECK: 0.9, TRUNK: 0.8, SHOULDER: 0.35, ELBOW: 0.9, ARM_ELEV: 0.8, HIP: -0.15, KNEE: 0.9, LEG_ELEV: 0.85}
_EXTENSOR = {NECK: -0.7, TRUNK: -0.6, SHOULDER: 1.0, ELBOW: -0.7, ARM_ELEV: -0.2, HIP: 0.25, KNEE: -0.8, LEG_ELEV: -0.4}

# Recording classes: (width, height) landscape, and how often each is drawn.
RESOLUTIONS = [(426, 240), (640, 360), (854, 480), (1280, 720), (1920, 1080)]
RESOLUTION_P = [0.24, 0.34, 0.26, 0.12, 0.04]
FRAME_RATES = [Fraction(15), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30), Fraction(60)]
FRAME_RATE_P = [0.12, 0.12, 0.16, 0.26, 0.28, 0.06]


@dataclass(frozen=True)
class ChildLook:
    """Everything fixed for one child across its videos."""

    skin: tuple[int, int, int]  # RGB
    hair: tuple[int, int, int]
    clothing: tuple[int, int, int]
    clothing_style: int  # 0 diaper only, 1 short-sleeved body, 2 long-sleeved romper
    head_r: float  # body units (trunk length = 1)
    trunk_w: float
    limb_w: float
    arm_len: float
    leg_len: float
    background: tuple[int, int, int]  # blanket base colour
    background2: tuple[int, int, int]  # pattern colour
    pattern: int  # 0 plain, 1 stripes, 2 checks, 3 dots
    pattern_scale: float  # pattern period, body units
    distance: float  # camera distance: body length as a fraction of the frame's short side
    angle: float  # infant orientation in the frame, radians (0 = head up)
    lighting: tuple[float, float, float]  # per-channel gain (colour temperature and exposure)
    rest: tuple[float, ...]  # resting pose, length N_POSE
    activity: float  # scale of ordinary movement and rate of kicks, flails, turns
    spasm: tuple[float, ...]  # pose offset at full contraction, length N_POSE (symmetric)
    spasm_rise: float  # seconds to full contraction (sudden: 0.2-0.5)
    spasm_hold: float  # seconds held (0.5-2)
    parent_skin: tuple[int, int, int]
    # The print on the sheet the infant lies on (renderers with a sheet of their own: silhouette, splat, shaded): 0 its
    # ink a shade of the sheet's colour (tone on tone), 1 a colour of its own (a bold print). Never drawn by
    # ``sample_look``: a stream sets it (``StreamConfig.bold_prints``), so every other draw stays as it was.
    print_contrast: float = 0.0


def _colour(rng: np.random.Generator, lo: int = 0, hi: int = 255) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, size=3))  # type: ignore[return-value]


def _skin(rng: np.random.Generator) -> tuple[int, int, int]:
    # A line through light to dark skin tones, with a little hue jitter.
    light, dark = np.array([240, 205, 180]), np.array([95, 60, 40])
    c = light + rng.uniform(0, 1) * (dark - light) + rng.normal(0, 8, 3)
    return tuple(int(v) for v in np.clip(c, 0, 255))  # type: ignore[return-value]


VARIETY_TAG = 0x7A5  # first word of a child's own draws of spasm variety: a cohort without variety draws as it did
SPASM_FORMS = ("asymmetric", "head nod", "shrug")


def vary_spasm(look: ChildLook, rng: np.random.Generator) -> ChildLook:
    """The child's spasm in another form than the symmetric whole-body one (each as likely): ``asymmetric`` (one
    side's limbs move 20-70% as far), ``head nod`` (head and trunk flex, limbs barely move) or ``shrug`` (shoulders
    and arms rise a little, the head dips). Subtle forms are what parents film least clearly and what a detector
    misses first. (Eyes rolling up, also a subtle form, is not drawn: no renderer draws eyes.)"""
    form = SPASM_FORMS[int(rng.integers(len(SPASM_FORMS)))]
    spasm = np.asarray(look.spasm, dtype=float).copy()
    if form == "asymmetric":
        side = int(rng.integers(2))
        for joint in (SHOULDER, ELBOW, ARM_ELEV, HIP, KNEE, LEG_ELEV):
            spasm[joint[side]] *= rng.uniform(0.2, 0.7)
    elif form == "head nod":
        limbs = [j for joint in (SHOULDER, ELBOW, ARM_ELEV, HIP, KNEE, LEG_ELEV) for j in joint]
        spasm[limbs] *= rng.uniform(0.05, 0.2)
        spasm[NECK], spasm[TRUNK] = rng.uniform(0.6, 0.9), rng.uniform(0.2, 0.5)
    else:  # shrug
        spasm[:] = 0.0
        lift = rng.uniform(0.3, 0.5)
        spasm[list(ARM_ELEV)], spasm[list(SHOULDER)], spasm[list(ELBOW)] = lift, 0.5 * lift, 0.3 * lift
        spasm[NECK] = rng.uniform(0.2, 0.4)
    return replace(look, spasm=tuple(float(v) for v in spasm))


def sample_look(rng: np.random.Generator, shifted: bool = False) -> ChildLook:
    """Draw one child's look. ``shifted=True`` draws from a disjoint look domain (other backgrounds,
    colours, proportions and camera distances) for tests of generalisation beyond a training corpus."""
    rest = np.zeros(N_POSE)
    rest[NECK], rest[TRUNK] = rng.normal(0, 0.1), rng.normal(0, 0.1)
    for side in (0, 1):
        rest[SHOULDER[side]] = rng.uniform(-0.6, 0.9)
        rest[ELBOW[side]] = rng.uniform(0.2, 1.4)
        rest[ARM_ELEV[side]] = rng.uniform(0.0, 0.3)
        rest[HIP[side]] = rng.uniform(0.1, 0.7)
        rest[KNEE[side]] = rng.uniform(0.2, 1.2)
        rest[LEG_ELEV[side]] = rng.uniform(0.0, 0.4)

    kind = rng.choice(3, p=[0.6, 0.25, 0.15])  # flexor, extensor, mixed
    spasm = np.zeros(N_POSE)
    for joint, value in _FLEXOR.items():
        flex, ext = value, _EXTENSOR[joint]
        arm = joint in (SHOULDER, ELBOW, ARM_ELEV)
        v = flex if kind == 0 else ext if kind == 1 else (ext if arm else flex)
        v *= 1 + 0.15 * rng.normal()
        for j in joint if isinstance(joint, tuple) else (joint,):
            spasm[j] = v
    # Strength varies between children (some spasms are subtle head nods with small limb movement).
    spasm *= rng.uniform(0.45, 1.0)

    if shifted:
        distance = rng.uniform(0.35, 0.5)
        head_r, trunk_w = rng.uniform(0.3, 0.36), rng.uniform(0.62, 0.75)
        pattern = int(rng.choice([0, 3]))
        background = _colour(rng, 0, 90)
    else:
        distance = rng.uniform(0.55, 0.85)
        head_r, trunk_w = rng.uniform(0.22, 0.3), rng.uniform(0.48, 0.62)
        pattern = int(rng.choice([0, 1, 2, 1, 2]))
        background = _colour(rng, 90, 255)
    return ChildLook(
        skin=_skin(rng),
        hair=_colour(rng, 10, 120),
        clothing=_colour(rng),
        clothing_style=int(rng.choice(3, p=[0.25, 0.35, 0.4])),
        head_r=head_r,
        trunk_w=trunk_w,
        limb_w=rng.uniform(0.1, 0.15),
        arm_len=rng.uniform(0.75, 0.95),
        leg_len=rng.uniform(0.85, 1.05),
        background=background,
        background2=_colour(rng),
        pattern=pattern,
        pattern_scale=rng.uniform(0.15, 0.5),
        distance=distance,
        angle=float(rng.uniform(-np.pi, np.pi) if rng.uniform() < 0.3 else rng.normal(0, 0.3)),
        lighting=tuple(float(v) for v in rng.uniform(0.75, 1.15) * (1 + rng.normal(0, 0.05, 3))),  # type: ignore[arg-type]
        rest=tuple(float(v) for v in rest),
        activity=rng.uniform(0.5, 1.5),
        spasm=tuple(float(v) for v in spasm),
        spasm_rise=rng.uniform(0.2, 0.5),
        spasm_hold=rng.uniform(0.5, 2.0),
        parent_skin=_skin(rng),
    )


@dataclass(frozen=True)
class Recording:
    """Settings of one synthetic video file."""

    width: int  # upright pixels
    height: int
    fps: Fraction
    bitrate: int  # bits per second asked of the encoder
    rotation: int  # display-matrix rotation written to the file (0 = frames stored upright)
    blur: float  # softness: the scene is drawn at 1 / (1 + blur) of the size, then scaled up (0 = sharp)
    night: bool  # infrared night look: grey, dark, noisy
    wide: bool  # wide-view video-EEG style: static camera, small infant in a cot, EEG cap
    handheld: bool  # phone in hand: shake, jolts and zoom


def sample_recording(rng: np.random.Generator, wide: bool | None = None, night: bool | None = None) -> Recording:
    """Draw the settings of one recording; ``wide``/``night`` force those properties when given."""
    wide = bool(rng.uniform() < 0.12) if wide is None else wide
    night = bool(rng.uniform() < (0.45 if wide else 0.08)) if night is None else night
    if wide:
        w, h = RESOLUTIONS[int(rng.choice([1, 2, 3], p=[0.4, 0.4, 0.2]))]
        fps = Fraction(25) if rng.uniform() < 0.5 else Fraction(30)
        portrait, rotation, handheld = False, 0, False
    else:
        w, h = RESOLUTIONS[int(rng.choice(len(RESOLUTIONS), p=RESOLUTION_P))]
        fps = FRAME_RATES[int(rng.choice(len(FRAME_RATES), p=FRAME_RATE_P))]
        portrait = bool(rng.uniform() < 0.4)
        # Phones store portrait video as landscape frames plus a display matrix about half the time.
        rotation = int(rng.choice([90, 270])) if portrait and rng.uniform() < 0.5 else 0
        handheld = bool(rng.uniform() < 0.75)
    if portrait:
        w, h = h, w
    pixels_per_s = w * h * float(fps)
    bits_per_pixel = float(np.exp(rng.uniform(np.log(0.02), np.log(0.15))))
    blur = float(rng.choice([0.0, 0.0, 0.0, rng.uniform(0.5, 2.0)]))
    return Recording(
        width=w,
        height=h,
        fps=fps,
        bitrate=int(max(150_000, pixels_per_s * bits_per_pixel)),
        rotation=rotation,
        blur=blur,
        night=night,
        wide=wide,
        handheld=handheld,
    )
