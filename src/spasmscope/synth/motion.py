"""Movement over time for one synthetic recording: pose, body placement, camera and a parent's hand.

Ordinary infant movement is smooth and asymmetric (each limb on its own), with kicks, arm flails and
turning; a parent's hand may reach in; a handheld camera shakes, jolts and zooms. A spasm is the
child's own stereotyped symmetric offset of neck, trunk and all limbs, reached suddenly (0.2-0.5 s),
held (0.5-2 s), then released. The confounders are as fast and as large as spasms, so frame
difference alone cannot tell them apart; the symmetric, held posture can.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spasmscope.synth.look import ARM_ELEV, ELBOW, HIP, KNEE, LEG_ELEV, N_POSE, NECK, SHOULDER, TRUNK, YAW, ChildLook, Recording

RELAX_S = (0.4, 0.9)  # seconds a spasm takes to release


@dataclass(frozen=True)
class Spasm:
    onset: float  # seconds
    rise: float
    hold: float
    relax: float
    strength: float  # multiplier of the child's spasm offset

    @property
    def offset(self) -> float:
        return self.onset + self.rise + self.hold + self.relax

    @property
    def duration(self) -> float:
        return self.rise + self.hold + self.relax


@dataclass
class Timeline:
    """Per-frame state, each array's first axis is frames at times ``t``."""

    t: np.ndarray  # [N] seconds
    pose: np.ndarray  # [N, N_POSE]
    body: np.ndarray  # [N, 3] infant placement in the scene: (dx, dy) body units, rotation radians
    camera: np.ndarray  # [N, 4] (dx, dy) fraction of the frame's short side, rotation radians, zoom factor
    hand: np.ndarray  # [N, 4] parent's hand: visible (0/1), reach (0-1), entry angle radians, finger spread
    present: np.ndarray | None = None  # [N] bool: the infant is in view (None: always)
    light: np.ndarray | None = None  # [N] room light gain, 1 = as recorded (None: always 1)
    # Every movement drawn that is not a spasm, as (kind, onset, offset) seconds in drawing order: the confounders
    # (kick, flail, turn, hand, jolt, zoom), startles and mimics. What screening mistakes for spasms is read from it.
    movements: tuple[tuple[str, float, float], ...] = ()

    def hide(self, spans: list[tuple[float, float]], light: float | None = None) -> None:
        """Mark ``(start, end)`` seconds as without the infant (``light=None``) or in a dark room (gain ``light``)."""
        inside = np.zeros(len(self.t), dtype=bool)
        for a, b in spans:
            inside |= (self.t >= a) & (self.t < b)
        if light is None:
            self.present = ~inside if self.present is None else self.present & ~inside
        else:
            gain = np.ones(len(self.t)) if self.light is None else self.light
            self.light = np.where(inside, light, gain)


def sample_spasm(rng: np.random.Generator, look: ChildLook, onset: float) -> Spasm:
    """One spasm of this child: stereotyped timing and strength with small jitter between spasms."""
    return Spasm(
        onset=onset,
        rise=float(np.clip(look.spasm_rise * rng.uniform(0.85, 1.15), 0.2, 0.5)),
        hold=float(np.clip(look.spasm_hold * rng.uniform(0.8, 1.2), 0.5, 2.0)),
        relax=float(rng.uniform(*RELAX_S)),
        strength=float(rng.uniform(0.85, 1.1)),
    )


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _smooth_noise(rng: np.random.Generator, t: np.ndarray, n: int, f_lo: float, f_hi: float) -> np.ndarray:
    """``[len(t), n]`` smooth random signals with unit-ish amplitude: sums of three slow sinusoids."""
    out = np.zeros((len(t), n))
    for _ in range(3):
        f = rng.uniform(f_lo, f_hi, n)
        phase = rng.uniform(0, 2 * np.pi, n)
        out += np.sin(2 * np.pi * t[:, None] * f + phase) / 3**0.5
    return out


def _burst(t: np.ndarray, start: float, length: float) -> np.ndarray:
    """Envelope 0 -> 1 -> 0 over ``[start, start + length]`` with quick (0.15 s) edges."""
    edge = min(0.15, length / 3)
    return _smoothstep((t - start) / edge) * (1 - _smoothstep((t - start - length + edge) / edge))


def contraction(t: np.ndarray, s: Spasm) -> np.ndarray:
    """Contraction level 0-1 over time ``t`` (seconds): sudden rise, hold, release; no tremor, no strength."""
    rise = _smoothstep((t - s.onset) / s.rise)
    release = 1 - _smoothstep((t - s.onset - s.rise - s.hold) / s.relax)
    return rise * release


def spasm_envelope(t: np.ndarray, s: Spasm, rng: np.random.Generator) -> np.ndarray:
    """Contraction level 0-1 over time: sudden rise, held with a slight tremor, release."""
    tremor = 1 + 0.04 * np.sin(2 * np.pi * rng.uniform(6, 9) * t)
    return contraction(t, s) * tremor


STARTLE_TAG = 0x5A7  # first word of a startle's own draws: a timeline without startles draws as it did


def _startle_phases(rng: np.random.Generator) -> tuple[float, float, float]:
    """Seconds of a startle's fling out, its embrace back, and its relaxing: the first draws of its own generator."""
    return float(rng.uniform(0.2, 0.35)), float(rng.uniform(0.45, 0.7)), float(rng.uniform(0.6, 1.0))


def startle_seconds(onset: float) -> float:
    """How long the startle from ``onset`` seconds moves: fling, embrace and relaxing together."""
    return sum(_startle_phases(np.random.default_rng([STARTLE_TAG, int(round(onset * 1000))])))


def startle(t: np.ndarray, onset: float) -> np.ndarray:
    """The startle (Moro) reflex from ``onset`` seconds as pose offsets ``[len(t), N_POSE]``: the arms fling out and
    straighten with the head thrown back and the legs stretched (0.2-0.35 s), then come back together across the
    chest (to about 1 s), then relax; nearly symmetric, never held. A clinician tells it from a flexor or extensor
    spasm by that: the spasm is a held posture, the startle a movement out and back."""
    rng = np.random.default_rng([STARTLE_TAG, int(round(onset * 1000))])
    out, back, relax = _startle_phases(rng)
    fling = _smoothstep((t - onset) / out) * (1 - _smoothstep((t - onset - out) / back))
    embrace = _smoothstep((t - onset - out) / back) * (1 - _smoothstep((t - onset - out - back) / relax))
    offset = np.zeros((len(t), N_POSE))
    for side in (0, 1):
        gain = rng.uniform(0.85, 1.0)  # the two sides are close, not equal
        offset[:, SHOULDER[side]] = gain * (1.1 * fling - 0.3 * embrace)
        offset[:, ELBOW[side]] = gain * (-0.6 * fling + 0.9 * embrace)
        offset[:, ARM_ELEV[side]] = gain * (0.25 * fling + 0.5 * embrace)
        offset[:, KNEE[side]] = gain * (-0.4 * fling + 0.3 * embrace)
        offset[:, LEG_ELEV[side]] = gain * 0.25 * embrace
    offset[:, NECK] = -0.35 * fling + 0.1 * embrace
    offset[:, TRUNK] = -0.2 * fling
    return offset


MIMIC_TAG = 0x313  # first word of a mimic's own draws: a timeline without mimics draws as it did
# The other movements a clinician must tell from a spasm (the startle has its own function, above), with the seconds
# each lasts at most (a segment holds it whole).
MIMIC_SECONDS = {"myoclonus": 2.5, "hiccups": 4.0, "crying": 4.5, "stretch": 3.5, "feeding": 4.6, "rocked": 4.6, "patted": 4.6, "lifted": 2.5}
MIMICS = tuple(MIMIC_SECONDS)
# Every kind ``Timeline.movements`` names: the confounders, the startle, then the mimics (the columns of
# ``movement_frames``).
MOVEMENT_KINDS = ("kick", "flail", "turn", "hand", "jolt", "zoom", "startle", *MIMICS)


@dataclass(frozen=True)
class MimicMotion:
    """What a mimic adds to a timeline: pose offsets ``[N, N_POSE]`` radians, body placement ``[N, 3]`` (body units,
    radians) and the parent's hand ``[N, 4]`` (``Timeline.hand``; all zero when no hand is in view)."""

    pose: np.ndarray
    body: np.ndarray
    hand: np.ndarray


def _pulse(t: np.ndarray, at: float, width: float) -> np.ndarray:
    """A brief jerk: 0 -> 1 -> 0 as a Gaussian of ``width`` seconds centred at ``at``."""
    return np.exp(-(((t - at) / width) ** 2))


def mimic(kind: str, t: np.ndarray, onset: float) -> MimicMotion:
    """A movement that looks like a spasm to an untrained eye, from ``onset`` seconds for at most
    ``MIMIC_SECONDS[kind]``. What tells each from a spasm (a held, symmetric posture reached in 0.2-0.5 s):

    - ``myoclonus`` (benign sleep myoclonus): 3-8 brief jerks (0.05-0.15 s) of one or two limbs, irregularly spaced;
      nothing is held.
    - ``hiccups``: 2-4 small, identical jerks of trunk and head about every 1-1.5 s.
    - ``crying``: vigorous alternating movement of all limbs at 1-2.5 Hz, the head thrown back and turning.
    - ``stretch``: arms up and out, legs straight, back arched, as an extensor spasm, but reached slowly (0.8-1.5 s).
    - ``feeding``: elbows bent to bring the hands to the face, the head rocking slightly with sucking (1-2 Hz).
    - ``rocked``: the whole infant swung from side to side (0.4-0.8 Hz) by a carer.
    - ``patted``: a carer's hand on the trunk, the body jolted gently with each pat (1.5-2.5 Hz).
    - ``lifted``: the body moved and turned as it is picked up and put down, limbs and head dangling.
    """
    if kind not in MIMIC_SECONDS:
        raise ValueError(f"unknown mimic {kind!r}; known: {', '.join(MIMICS)}")
    rng = np.random.default_rng([MIMIC_TAG, MIMICS.index(kind), int(round(onset * 1000))])
    n, span = len(t), MIMIC_SECONDS[kind]
    pose, body, hand = np.zeros((n, N_POSE)), np.zeros((n, 3)), np.zeros((n, 4))
    inside = ((t >= onset) & (t < onset + span)).astype(float)
    if kind == "myoclonus":
        at = onset + 0.1
        for _ in range(int(rng.integers(3, 9))):
            width = rng.uniform(0.05, 0.15) / 2
            for _ in range(int(rng.integers(1, 3))):
                side, arm = int(rng.integers(2)), rng.uniform() < 0.5
                jerk = _pulse(t, at, width) * rng.uniform(0.3, 0.7) * rng.choice([-1, 1])
                pose[:, SHOULDER[side] if arm else HIP[side]] += jerk
                pose[:, ELBOW[side] if arm else KNEE[side]] += 0.6 * jerk
            at += rng.uniform(0.15, 0.6)
            if at > onset + span - 0.1:
                break
    elif kind == "hiccups":
        every, size = rng.uniform(1.0, 1.5), rng.uniform(0.1, 0.2)
        for i in range(int(rng.integers(2, 5))):
            at = onset + 0.1 + i * every
            if at > onset + span - 0.1:
                break
            jerk = _pulse(t, at, 0.04)
            pose[:, TRUNK] += size * jerk
            pose[:, NECK] += 0.8 * size * jerk
            body[:, 1] -= 0.01 * jerk
    elif kind == "crying":
        length = rng.uniform(2.0, span)
        env = _burst(t, onset, length)
        for j, joint in enumerate((*SHOULDER, *ELBOW, *HIP, *KNEE)):
            f = rng.uniform(1.0, 2.5)
            pose[:, joint] += env * rng.uniform(0.4, 0.9) * np.sin(2 * np.pi * f * (t - onset) + np.pi * (j % 2) + rng.uniform(-0.5, 0.5))
        pose[:, NECK] += env * (-0.25 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 1.0) * t))
        pose[:, YAW] += env * 0.4 * np.sin(2 * np.pi * rng.uniform(0.5, 1.2) * (t - onset))
        pose[:, TRUNK] -= 0.15 * env
    elif kind == "stretch":
        rise, hold, relax = rng.uniform(0.8, 1.5), rng.uniform(0.5, 1.2), rng.uniform(0.6, 0.8)
        level = _smoothstep((t - onset) / rise) * (1 - _smoothstep((t - onset - rise - hold) / relax))
        strength = rng.uniform(0.6, 1.0)
        for side in (0, 1):
            gain = strength * rng.uniform(0.8, 1.0)
            pose[:, SHOULDER[side]] += gain * 1.0 * level
            pose[:, ELBOW[side]] += gain * -0.6 * level
            pose[:, ARM_ELEV[side]] += gain * 0.3 * level
            pose[:, KNEE[side]] += gain * -0.7 * level
            pose[:, HIP[side]] += gain * 0.2 * level
        pose[:, NECK] -= strength * 0.5 * level
        pose[:, TRUNK] -= strength * 0.5 * level
    elif kind == "feeding":
        env = _burst(t, onset, span) * inside
        for side in (0, 1):
            pose[:, ELBOW[side]] += env * rng.uniform(0.7, 1.2)
            pose[:, SHOULDER[side]] += env * rng.uniform(0.2, 0.5)
        suck = np.sin(2 * np.pi * rng.uniform(1.0, 2.0) * (t - onset))
        pose[:, NECK] += env * (0.15 + rng.uniform(0.04, 0.1) * suck)
        pose[:, YAW] += env * 0.1 * suck
    elif kind == "rocked":
        env = _burst(t, onset, span) * inside
        swing = np.sin(2 * np.pi * rng.uniform(0.4, 0.8) * (t - onset))
        body[:, 2] += env * rng.uniform(0.1, 0.25) * swing
        body[:, 0] += env * rng.uniform(0.05, 0.15) * swing
    elif kind == "patted":
        env = _burst(t, onset, span) * inside
        pat = np.maximum(np.sin(2 * np.pi * rng.uniform(1.5, 2.5) * (t - onset)), 0) ** 4
        entry = rng.uniform(-np.pi, np.pi)
        visible = env > 0.01
        hand[visible] = [1.0, 0.0, entry, rng.uniform(0.2, 0.8)]
        hand[visible, 1] = 0.85 + 0.1 * pat[visible]
        body[:, :2] += (0.04 * env * pat)[:, None] * np.array([-np.cos(entry), -np.sin(entry)])
        for joint in (*ELBOW, *KNEE):  # the limbs bounce a little with each pat
            pose[:, joint] += 0.1 * env * pat
    else:  # lifted
        # Picked up and put down again within the span (a segment holds it whole), the limbs dangling meanwhile.
        length = rng.uniform(1.5, span)
        level = _smoothstep((t - onset) / (0.4 * length)) * (1 - _smoothstep((t - onset - 0.6 * length) / (0.4 * length)))
        way = rng.uniform(-np.pi, np.pi)
        body[:, :2] += (rng.uniform(0.3, 0.6) * level)[:, None] * np.array([np.cos(way), np.sin(way)])
        body[:, 2] += rng.choice([-1, 1]) * rng.uniform(0.15, 0.35) * level
        for side in (0, 1):
            pose[:, ARM_ELEV[side]] -= 0.25 * level
            pose[:, KNEE[side]] -= 0.5 * level
            pose[:, SHOULDER[side]] += 0.4 * level
        pose[:, NECK] -= 0.4 * level
        visible = level > 0.01
        hand[visible] = [1.0, 0.9, way + np.pi, 0.6]
    return MimicMotion(pose, body, hand)


def make_timeline(
    rng: np.random.Generator,
    look: ChildLook,
    rec: Recording,
    duration: float,
    spasms: list[Spasm],
    confounders: list[tuple[float, float, float]],
    startles: tuple[float, ...] = (),
    mimics: tuple[tuple[str, float], ...] = (),
) -> Timeline:
    """Build the per-frame movement of a recording of ``duration`` seconds at ``rec.fps``.

    ``confounders`` lists windows ``(start, end, rate)``: in each, kicks, flails, turns, hand entries
    and camera jolts start at ``rate`` per 5 s (times the child's activity factor). ``startles`` are the onsets
    (seconds) of startle reflexes (``startle``), the hard negative a clinician must tell from a spasm; ``mimics`` the
    other hard negatives (``mimic``), as ``(kind, onset seconds)``.
    """
    fps = float(rec.fps)
    n = int(round(duration * fps))
    t = np.arange(n) / fps
    act = look.activity

    pose = np.tile(np.asarray(look.rest), (n, 1))
    # Ordinary movement: each joint on its own slow random course (asymmetric between sides).
    amp = np.full(N_POSE, 0.18)
    amp[[NECK, TRUNK]] = 0.06
    amp[YAW] = 0.3
    pose += act * amp * _smooth_noise(rng, t, N_POSE, 0.08, 0.6)
    # Fidgeting: small quicker wiggles of hands and feet.
    fidget = _smooth_noise(rng, t, 4, 1.0, 2.5) * 0.08 * act
    pose[:, list(ELBOW)] += fidget[:, :2]
    pose[:, list(KNEE)] += fidget[:, 2:]

    body = np.zeros((n, 3))
    body[:, :2] = 0.03 * _smooth_noise(rng, t, 2, 0.05, 0.3)
    camera = np.zeros((n, 4))
    camera[:, 3] = 1.0
    if rec.handheld:
        camera[:, :2] = 0.012 * _smooth_noise(rng, t, 2, 0.3, 1.5)
        camera[:, 2] = 0.01 * _smooth_noise(rng, t, 1, 0.2, 1.0)[:, 0]
        camera[:, 3] = 1 + 0.04 * _smooth_noise(rng, t, 1, 0.03, 0.15)[:, 0]
    hand = np.zeros((n, 4))

    # Confounders: placed uniformly in time, as fast and as large as spasms.
    kinds = ["kick", "kick", "flail", "flail", "turn", "hand", "jolt" if rec.handheld else "kick", "zoom" if rec.handheld else "flail"]
    starts = [rng.uniform(lo, hi) for lo, hi, rate in confounders for _ in range(rng.poisson(rate * act * (hi - lo) / 5.0))]
    moved: list[tuple[str, float, float]] = []
    for start in starts:
        kind = kinds[int(rng.integers(len(kinds)))]
        if kind == "kick":
            length, f = rng.uniform(0.8, 2.5), rng.uniform(1.2, 2.8)
            moved.append((kind, start, start + length))
            env = _burst(t, start, length)
            both = rng.uniform() < 0.5
            for side in (0, 1) if both else (int(rng.integers(2)),):
                phase = np.pi * side if both else 0.0  # alternating legs, never in step
                wave = np.sin(2 * np.pi * f * (t - start) + phase)
                pose[:, KNEE[side]] += env * rng.uniform(0.5, 1.0) * wave
                pose[:, LEG_ELEV[side]] += env * rng.uniform(0.3, 0.7) * (0.5 + 0.5 * wave)
        elif kind == "flail":
            length, f = rng.uniform(0.6, 2.0), rng.uniform(1.2, 3.0)
            moved.append((kind, start, start + length))
            env = _burst(t, start, length)
            side = int(rng.integers(2))
            wave = np.sin(2 * np.pi * f * (t - start))
            pose[:, SHOULDER[side]] += env * rng.uniform(0.5, 1.1) * wave
            pose[:, ELBOW[side]] += env * rng.uniform(0.3, 0.9) * np.cos(2 * np.pi * f * (t - start))
            pose[:, ARM_ELEV[side]] += env * rng.uniform(0.1, 0.5) * (0.5 + 0.5 * wave)
        elif kind == "turn":
            length = rng.uniform(0.8, 2.0)
            angle = rng.choice([-1, 1]) * rng.uniform(0.25, 0.6)
            back = start + length + rng.uniform(0.5, 4.0)
            moved.append((kind, start, back + length))
            body[:, 2] += angle * (_smoothstep((t - start) / length) - _smoothstep((t - back) / length))
            pose[:, YAW] += np.sign(angle) * 0.6 * _burst(t, start, back - start + length)
        elif kind == "hand":
            length = rng.uniform(1.5, 3.5)
            moved.append((kind, start, start + length))
            env = _burst(t, start, length)
            reach = np.sin(np.pi * np.clip((t - start) / length, 0, 1))
            visible = env > 0.01
            entry = rng.uniform(-np.pi, np.pi)
            hand[visible, 0] = 1
            hand[visible, 1] = reach[visible]
            hand[visible, 2] = entry
            hand[visible, 3] = rng.uniform(0.2, 0.8)
            # The touch moves the infant a little.
            body[:, :2] += (0.05 * env * reach)[:, None] * np.array([np.cos(entry), np.sin(entry)])
        elif kind == "jolt":
            length = rng.uniform(0.2, 0.6)
            shift = rng.normal(0, 0.05, 2)
            settle = rng.uniform(0.3, 1.0)
            moved.append((kind, start, start + length + settle))
            env = _smoothstep((t - start) / 0.12) * (1 - _smoothstep((t - start - length) / settle))
            camera[:, :2] += env[:, None] * shift
            camera[:, 2] += env * rng.normal(0, 0.04)
        elif kind == "zoom":
            length = rng.uniform(0.5, 1.5)
            factor = rng.uniform(-0.2, 0.25)
            back = start + length + rng.uniform(0.5, 3.0)
            moved.append((kind, start, back + length))
            camera[:, 3] *= 1 + factor * (_smoothstep((t - start) / length) - _smoothstep((t - back) / length))

    spasm_offset = np.asarray(look.spasm)
    for s in spasms:
        env = spasm_envelope(t, s, rng) * s.strength
        pose += env[:, None] * spasm_offset
        # The whole body jerks slightly with the contraction.
        body[:, 1] += 0.02 * np.sign(spasm_offset[TRUNK]) * env

    for onset in startles:
        pose += startle(t, onset)
        moved.append(("startle", onset, onset + startle_seconds(onset)))
        body[:, 1] -= 0.015 * _burst(t, onset, 0.6)  # the whole body jumps a little

    for kind, onset in mimics:
        drawn = mimic(kind, t, onset)
        pose += drawn.pose
        body += drawn.body
        shown = drawn.hand[:, 0] > 0
        hand[shown] = drawn.hand[shown]
        moved.append((kind, onset, onset + MIMIC_SECONDS[kind]))  # the longest this kind lasts

    for side in (0, 1):
        pose[:, ARM_ELEV[side]] = np.clip(pose[:, ARM_ELEV[side]], -0.3, 0.95)
        pose[:, LEG_ELEV[side]] = np.clip(pose[:, LEG_ELEV[side]], -0.5, 0.95)
        pose[:, ELBOW[side]] = np.clip(pose[:, ELBOW[side]], -0.3, 2.4)
        pose[:, KNEE[side]] = np.clip(pose[:, KNEE[side]], -0.3, 2.2)
        pose[:, HIP[side]] = np.clip(pose[:, HIP[side]], -0.4, 1.3)
    pose[:, NECK] = np.clip(pose[:, NECK], -1.0, 1.0)
    spans = tuple((kind, round(float(a), 3), round(float(min(b, duration)), 3)) for kind, a, b in moved)
    return Timeline(t=t, pose=pose, body=body, camera=camera, hand=hand, movements=spans)


def movement_frames(movements: tuple[tuple[str, float, float], ...], t: np.ndarray) -> np.ndarray:
    """float32 ``[len(t), len(MOVEMENT_KINDS)]``: 1 where a movement of that kind (``Timeline.movements``: kind,
    onset, offset seconds) is under way at time ``t`` (onset <= t < offset), else 0."""
    out = np.zeros((len(t), len(MOVEMENT_KINDS)), dtype=np.float32)
    for kind, onset, offset in movements:
        out[(t >= onset) & (t < offset), MOVEMENT_KINDS.index(kind)] = 1.0
    return out
