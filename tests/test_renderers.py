"""The family of renderers: every renderer draws any plan's motion, in a look of its own, deterministically."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from conftest import run_cli

from spasmscope.data.localise import MotionLocaliser, analysis_grey, camera_shift
from spasmscope.data.preprocess import ClipConfig, decode_size
from spasmscope.errors import SettingError
from spasmscope.synth import SynthConfig, plan_cohort
from spasmscope.synth.cohort import infant_boxes, scene_and_timeline
from spasmscope.synth.render import infrared
from spasmscope.synth.renderers import ALL_NAMES, NAMES, RENDERERS, renderer
from spasmscope.synth.stream import StreamConfig, pipeline_frames, plan_clip, sample_clip


def _plans(name: str):
    return plan_cohort(SynthConfig(children=2, healthy=1, seed=8, wide_fraction=0.3, night_fraction=0.3, renderer=name, videos_per_child=(1, 1)))


def test_every_renderer_draws_the_same_motion_its_own_way():
    assert NAMES == ("articulated", "silhouette", "photo", "shaded", "splat") and renderer("silhouette") is RENDERERS[1]
    assert ALL_NAMES == (*NAMES, "implicit")  # the renderer no shipped backbone saw draws the same plans
    drawn = {}
    for name in ALL_NAMES:
        plans = _plans(name)
        assert {p.renderer for p in plans} == {name}
        scenes = [scene_and_timeline(p) for p in plans]
        drawn[name] = (plans, scenes)
    (pa, sa) = drawn["articulated"]
    for other in ALL_NAMES[1:]:
        ps, ss = drawn[other]
        assert [dataclasses.replace(p, renderer="") for p in pa] == [dataclasses.replace(p, renderer="") for p in ps]
        _same_motion_other_look(sa, ss, other)
    # Infrared night: no colour anywhere in any renderer's picture, cloths, prints and blankets included.
    for name in ALL_NAMES:
        for plan in _plans(name)[1:]:
            scene, tl = scene_and_timeline(dataclasses.replace(plan, rec=dataclasses.replace(plan.rec, night=True)))
            frame = scene.render(tl, len(tl.t) // 2).astype(int)
            assert np.abs(frame[..., 0] - frame[..., 1]).max() <= 2 and np.abs(frame[..., 1] - frame[..., 2]).max() <= 2, name
    # The infant is where the motion puts it, whichever renderer draws it: the boxes are the same.
    assert infant_boxes(pa[0]) == infant_boxes(drawn["photo"][0][0])


def test_infrared_greys_a_single_colour_and_a_whole_texture_alike():
    # Colours (Scene.colour, prints' inks) and whole textures (photo patches, shaded surfaces) go through one function.
    texture = np.random.default_rng(3).integers(0, 256, (5, 7, 3)).astype(np.uint8)
    grey = infrared(texture)
    assert grey.shape == (5, 7, 3) and grey.dtype == np.float64
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])  # no colour left
    for i, j in [(0, 0), (2, 5), (4, 6)]:
        assert np.array_equal(infrared(tuple(int(v) for v in texture[i, j])), grey[i, j])
    assert np.allclose(grey[..., 0], texture.astype(float) @ np.array([0.3, 0.59, 0.11]))
    assert np.allclose(infrared((255, 0, 0)), 0.3 * 255) and np.allclose(infrared((0, 0, 255)), 0.11 * 255)


def _same_motion_other_look(sa, ss, name: str) -> None:
    for (scene_a, tl_a), (scene_s, tl_s) in zip(sa, ss, strict=True):
        assert type(scene_s).name == name
        assert np.array_equal(tl_a.pose, tl_s.pose) and np.array_equal(tl_a.camera, tl_s.camera)  # the shared motion
        k = len(tl_a.t) // 2
        a, s = scene_a.render(tl_a, k), scene_s.render(tl_s, k)
        x, y, w, h = (int(v) for v in scene_a.box(tl_a, k))
        assert a.shape == s.shape and np.abs(a.astype(int) - s.astype(int))[y : y + h, x : x + w].mean() > 10  # another look


def test_the_silhouette_renderer_is_deterministic_and_moves_with_the_body():
    plan = _plans("silhouette")[0]
    (scene1, tl1), (scene2, tl2) = scene_and_timeline(plan), scene_and_timeline(plan)
    frames1 = [scene1.render(tl1, k) for k in range(0, len(tl1.t), 10)]
    assert all(np.array_equal(f, scene2.render(tl2, k)) for f, k in zip(frames1, range(0, len(tl1.t), 10), strict=True))
    # Where the body moves most between two frames, the pixels change; far from the infant they do not (a still camera).
    still = next(p for p in _plans("silhouette") if not p.rec.handheld)
    scene, tl = scene_and_timeline(still)
    f0, f1 = scene.render(tl, 0).astype(int), scene.render(tl, len(tl.t) - 1).astype(int)
    x, y, w, h = (int(v) for v in scene.box(tl, 0))
    inside = np.abs(f1 - f0)[y : y + h, x : x + w].mean()
    assert inside > 1.0


def test_a_stream_of_several_renderers_draws_each_and_one_renderer_changes_nothing():
    clip = ClipConfig(frames=8, size=32)
    both = StreamConfig(seed=2, renderers=NAMES)
    names = {type(plan_clip(both, i, clip).scene).name for i in range(12)}
    assert names == set(NAMES)
    one = plan_clip(StreamConfig(seed=2), 3, clip)
    assert type(one.scene).name == "articulated" and np.array_equal(one.timeline.pose, plan_clip(both, 3, clip).timeline.pose)
    with pytest.raises(SettingError, match="renderer='crayon'; use one of articulated, silhouette, photo, shaded, splat, implicit"):
        StreamConfig(renderers=("crayon",))


def test_the_pipeline_view_has_a_draw_of_its_own_for_close_views_and_leaves_the_rest_of_the_stream_as_it_was():
    clip = ClipConfig(frames=16, size=64, crop_infant=True, steady=True)
    plain = StreamConfig(seed=4, renderers=("silhouette", "splat"))
    half = dataclasses.replace(plain, pipeline_view=0.5)
    plans = [(plan_clip(plain, i, clip), plan_clip(half, i, clip)) for i in range(120)]
    for a, b in plans:
        # The child, label and shown frames stay; a piped clip's scene is drawn at another size, which draws its own
        # background and movements, so only the clips not piped keep their timeline.
        assert not a.piped and a.label == b.label and a.look == b.look and np.array_equal(a.shown, b.shown) and a.rec.wide == b.rec.wide
        assert b.piped or np.array_equal(a.timeline.pose, b.timeline.pose)
        assert not (b.piped and b.rec.wide)  # a wide view is cut where the generator knows the infant to be, as before
    close = [b.piped for _, b in plans if not b.rec.wide]
    assert 0.35 < np.mean(close) < 0.65, np.mean(close)
    # A piped close view is drawn at the working size a cut segment is decoded at (short side 256 at most, where the
    # others are drawn at twice the clip's 64), the others as before.
    assert all(1.8 * min(a.rec.width, a.rec.height) < min(b.rec.width, b.rec.height) <= 256 for a, b in plans if b.piped)
    assert all((a.rec.width, a.rec.height) == (b.rec.width, b.rec.height) for a, b in plans if not b.piped)
    kept = [i for i, (_, b) in enumerate(plans) if not b.piped][:4]
    assert all(np.array_equal(sample_clip(plain, i, clip).clip, sample_clip(half, i, clip).clip) for i in kept)
    every = dataclasses.replace(plain, pipeline_view=1.0)
    assert all(plan_clip(every, i, clip).piped != plan_clip(every, i, clip).rec.wide for i in range(40))
    with pytest.raises(SettingError, match="pipeline_view=1.5 is not a share"):
        dataclasses.replace(plain, pipeline_view=1.5)


def test_bold_prints_have_a_draw_of_their_own_and_print_the_sheet_in_a_colour_of_its_own():
    clip = ClipConfig(frames=16, size=64, crop_infant=True, steady=True)
    plain = StreamConfig(seed=5, renderers=("silhouette", "splat", "shaded", "photo"))
    half = dataclasses.replace(plain, bold_prints=0.5)
    plans = [(plan_clip(plain, i, clip), plan_clip(half, i, clip)) for i in range(80)]
    for a, b in plans:  # the child, recording, label and movements stay; only the print's contrast is drawn
        assert a.look.print_contrast == 0 and a.look == dataclasses.replace(b.look, print_contrast=0.0)
        assert a.rec == b.rec and a.label == b.label and np.array_equal(a.shown, b.shown) and np.array_equal(a.timeline.pose, b.timeline.pose)
    bold = [b.look.print_contrast for _, b in plans]
    assert 0.35 < np.mean(np.greater(bold, 0)) < 0.65 and all(c == 0 or 0.4 <= c <= 1 for c in bold)
    kept = [i for i, c in enumerate(bold) if c == 0][:3]
    assert all(np.array_equal(sample_clip(plain, i, clip).clip, sample_clip(half, i, clip).clip) for i in kept)
    changed = [i for i, ((a, b), c) in enumerate(zip(plans, bold)) if c > 0 and a.scene.name in ("silhouette", "splat", "shaded")][:3]
    assert len(changed) == 3 and all(not np.array_equal(plans[i][0].scene.background, plans[i][1].scene.background) for i in changed)
    # At 1 the ink is a colour of its own, whatever the sheet's; at 0 it is the sheet's shade itself.
    plan = next(p for p in _plans("silhouette") if not p.rec.night and not p.rec.wide)
    for contrast, same in ((1.0, True), (0.0, False)):
        scene, _ = scene_and_timeline(dataclasses.replace(plan, look=dataclasses.replace(plan.look, print_contrast=contrast)))
        inks = [scene._sheet_ink(np.array(tone), np.random.default_rng(3)) for tone in ((40.0, 50.0, 60.0), (200.0, 10.0, 90.0))]
        assert np.array_equal(inks[0], inks[1]) == same
    # A bold print at night is grey, as every print is; the articulated figure's blanket and the photo renderer's
    # photographs are not a sheet's print, so they stay as drawn.
    for name in ("silhouette", "splat", "shaded", "articulated", "photo"):
        for p in _plans(name)[:2]:  # a wide view and a close one
            for night in (False, True):
                p = dataclasses.replace(p, rec=dataclasses.replace(p.rec, night=night))
                scenes = [scene_and_timeline(dataclasses.replace(p, look=dataclasses.replace(p.look, print_contrast=c)))[0] for c in (0.0, 1.0)]
                if night:
                    assert np.array_equal(scenes[1].background[..., 0], scenes[1].background[..., 2])
                assert np.array_equal(scenes[0].background, scenes[1].background) == (name in ("articulated", "photo"))
    with pytest.raises(SettingError, match="bold_prints=1.5 is not a share"):
        dataclasses.replace(plain, bold_prints=1.5)


def _shake(frames: np.ndarray) -> float:
    """The camera's median shift between consecutive frames ``[N, H, W, 3]``, as a share of the short side."""
    grey = np.stack([analysis_grey(f, (frames.shape[2], frames.shape[1])) for f in frames]).astype(np.float32)
    return camera_shift(grey, 1) / min(frames.shape[1:3])


def test_a_piped_hand_held_clip_is_cut_where_the_localiser_finds_the_infant_and_held_still():
    clip = ClipConfig(frames=16, size=64, crop_infant=True, steady=True)
    stream = StreamConfig(seed=6, renderers=("photo",), pipeline_view=1.0, wide_fraction=0.0)

    def drawn(i: int) -> np.ndarray:
        plan = plan_clip(stream, i, clip)
        return np.stack([plan.scene.render(plan.timeline, int(k)) for k in plan.shown])

    # A phone whose shake is well above what the steadying leaves alone (0.005 of the short side).
    index = next(i for i in range(40) if plan_clip(stream, i, clip).rec.handheld and _shake(drawn(i)) > 0.012)
    frames = drawn(index)
    x, y, w, h = MotionLocaliser().update(frames, len(frames) / 5.0).crop
    shown = pipeline_frames(frames, clip)
    assert shown.shape == (16, *decode_size(w, h, clip)[::-1], 3)
    # The same cut, unsteadied, at the same size: the steadying takes most of the hand's shake out.
    unsteadied = np.stack([cv2.resize(f, shown.shape[2:0:-1], interpolation=cv2.INTER_AREA) for f in frames[:, y : y + h, x : x + w]])
    assert _shake(shown) < 0.5 * _shake(unsteadied), (_shake(unsteadied), _shake(shown))
    clips = sample_clip(stream, index, clip).clip
    assert clips.shape == (1, 16, 64, 64, 3) and np.array_equal(clips[0, 0], cv2.resize(shown[0], (64, 64), interpolation=cv2.INTER_LINEAR))


@pytest.mark.slow
def test_synth_draws_a_cohort_with_the_renderer_asked_for(tmp_path):
    import pandas as pd

    r = run_cli("synth", str(tmp_path / "c"), "--children", "2", "--healthy", "1", "--seed", "3", "--renderer", "silhouette", "--startle-rate", "0.6")
    assert r.returncode == 0, r.stderr
    assert '"renderer": "silhouette"' in (tmp_path / "c" / "synth.json").read_text()
    manifest = pd.read_csv(tmp_path / "c" / "manifest.csv")
    assert manifest["startle"].sum() >= 1 and not (manifest["startle"] & manifest["label"]).any()
    assert len(list((tmp_path / "c" / "videos").glob("*.mp4"))) >= 3
    r = run_cli("synth", str(tmp_path / "d"), "--renderer", "crayon")
    assert r.returncode == 2 and "renderer='crayon'; use one of articulated, silhouette, photo, shaded, splat, implicit" in r.stderr


def test_the_startle_reflex_flings_out_and_back_symmetrically_and_is_never_held():
    from spasmscope.synth.look import ELBOW, SHOULDER
    from spasmscope.synth.motion import contraction, sample_spasm, startle

    t = np.arange(0, 5, 1 / 30)
    s = startle(t, 1.0)
    left, right = s[:, SHOULDER[0]], s[:, SHOULDER[1]]
    assert np.corrcoef(left, right)[0, 1] > 0.99 and 0.8 < left.max() / right.max() < 1.25  # both sides, nearly equal
    peak = t[np.argmax(left)]
    assert 1.15 < peak < 1.4 and s[t < 1.0].max() == 0 and np.abs(s[t > 3.5]).max() < 1e-9  # out fast, all over by 3.5 s
    assert s[:, ELBOW[0]].min() < -0.4 and s[:, ELBOW[0]].max() > 0.6  # straightened, then bent across the chest
    # A spasm holds its posture; a startle does not: the time spent within 10% of its largest deflection.
    look = _plans("articulated")[0].look
    held = contraction(t, sample_spasm(np.random.default_rng(0), look, 1.0))
    near_peak = np.abs(left) > 0.9 * np.abs(left).max()
    assert near_peak.mean() * 5 < 0.25 and (held > 0.9).mean() * 5 > 0.45


def test_startles_land_in_segments_without_a_spasm_and_leave_the_rest_as_it_was():
    base = SynthConfig(children=3, healthy=2, seed=6)
    plain, startled = plan_cohort(base), plan_cohort(dataclasses.replace(base, startle_rate=0.7))
    assert [dataclasses.replace(p, startles=()) for p in startled] == plain and all(p.startles == () for p in plain)
    onsets = [(p, o) for p in startled for o in p.startles]
    assert len(onsets) >= 5
    for p, o in onsets:
        assert p.labels[int(o // 5)] == 0 and o % 5 <= 3.2
    p = onsets[0][0]
    (_, tl_plain), (_, tl_startled) = scene_and_timeline(dataclasses.replace(p, startles=())), scene_and_timeline(p)
    moved = np.abs(tl_startled.pose - tl_plain.pose).max(axis=1) > 1e-9
    assert moved.any() and all(any(o <= t < o + 3 for o in p.startles) for t in tl_plain.t[moved])


def test_the_shaded_renderer_films_a_body_in_perspective_and_its_box_holds_it():
    from spasmscope.synth.shaded import ShadedScene

    plans = _plans("shaded")
    for plan in plans:
        scene, tl = scene_and_timeline(plan)
        assert isinstance(scene, ShadedScene)
        k = len(tl.t) // 2
        frame = scene.render(tl, k)
        assert np.array_equal(frame, scene_and_timeline(plan)[0].render(tl, k))  # deterministic
        # Everything drawn of the infant (where the frame differs from the empty scene) lies inside its box.
        empty = scene.render(dataclasses.replace(tl, present=np.zeros(len(tl.t), bool)), k)
        drawn = np.abs(frame.astype(int) - empty.astype(int)).max(axis=2) > 30
        if tl.hand[k, 0] > 0:
            continue  # the parent's hand reaches in from outside the box
        x, y, w, h = scene.box(tl, k)
        ys, xs = np.nonzero(drawn)
        assert len(xs) > 50 and xs.min() >= x - 2 and xs.max() <= x + w + 2 and ys.min() >= y - 2 and ys.max() <= y + h + 2
    # Perspective: with the camera tilted, a point raised off the surface shows higher up the picture, and a nearer
    # point larger, than on a camera straight above.
    scene, _ = scene_and_timeline(plans[0])
    scene.pitch = 0.6
    (flat, raised), (d_flat, d_raised) = scene.project(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.5]]))
    assert raised[1] < flat[1] - 1 and d_raised < d_flat
    scene.pitch = 0.0
    (flat, raised), _ = scene.project(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.5]]))
    assert raised[1] == pytest.approx(flat[1])


def test_key_points_are_where_each_renderer_draws_the_head_and_trunk():
    flat = {}
    for name in ALL_NAMES:
        for plan in _plans(name)[:2]:
            scene, tl = scene_and_timeline(plan)
            k = len(tl.t) // 3
            if tl.hand[k, 0] > 0 or (tl.present is not None and not tl.present[k]):
                continue
            points = scene.key_points(tl, k)
            assert set(points) == {"head", "trunk", *(f"{j}_{s}" for j in ("shoulder", "elbow", "hand", "hip", "knee", "foot") for s in "lr")}
            sx, sy = scene.out_size[0] / scene.w, scene.out_size[1] / scene.h
            x, y, w, h = scene.box(tl, k)
            for p in points.values():
                assert x - 1 <= p[0] * sx <= x + w + 1 and y - 1 <= p[1] * sy <= y + h + 1
            # Drawn frames are the output size; the head's and trunk's centres lie on the infant, not the background.
            frame = scene.render(tl, k)
            empty = scene.render(dataclasses.replace(tl, present=np.zeros(len(tl.t), bool)), k)
            drawn = np.abs(frame.astype(int) - empty.astype(int)).max(axis=2) > 20
            for joint in ("head", "trunk"):
                cx, cy = int(points[joint][0] * sx), int(points[joint][1] * sy)
                assert drawn[max(cy - 2, 0) : cy + 3, max(cx - 2, 0) : cx + 3].any(), (name, joint)
            flat.setdefault(name, []).append(points)
    # The flat renderers share one geometry; the shaded one films the same body through its own camera.
    for name in ("silhouette", "photo", "splat", "implicit"):
        for a, b in zip(flat["articulated"], flat[name], strict=True):
            assert all(np.allclose(a[j], b[j]) for j in a)
    assert not all(np.allclose(a["hand_l"], b["hand_l"]) for a, b in zip(flat["articulated"], flat["shaded"], strict=True))


def test_the_splat_renderers_print_moves_with_the_body_where_the_silhouettes_stays_in_the_picture():
    # The same still recording twice, the second with the body moved by a whole number of drawn pixels: the splat
    # renderer's infant, print included, is the first one moved; the silhouette renderer's cloth stays put.
    errors = {}
    for name in ("splat", "silhouette"):
        plan = next(p for p in _plans(name) if not p.rec.handheld and not p.rec.wide)
        scene, tl = scene_and_timeline(dataclasses.replace(plan, rec=dataclasses.replace(plan.rec, blur=0.0)))
        k = next(k for k in range(len(tl.t)) if tl.hand[k, 0] == 0)
        shift = 6  # drawn pixels, along the picture's x axis
        moved = tl.body.copy()
        moved[k, 0] += shift / scene.px  # the body's placement moves it along the picture's x axis before any turn
        a = scene.render(tl, k).astype(int)
        b = scene.render(dataclasses.replace(tl, body=moved), k).astype(int)
        assert scene.out_size == (scene.w, scene.h)  # a sharp recording is drawn at its size: pixels shift one for one
        empty = scene.render(dataclasses.replace(tl, present=np.zeros(len(tl.t), bool)), k).astype(int)
        body = np.abs(a - empty).max(axis=2) > 20  # where the infant is drawn, eroded away from its edges
        body = cv2.erode(body.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        body[:, -shift:] = False
        errors[name] = np.abs(np.roll(b, -shift, axis=1) - a)[body].mean()
    assert errors["splat"] < 2.0 and errors["silhouette"] > 3 * errors["splat"], errors


def test_spectral_noise_has_the_power_law_asked_for():
    from spasmscope.synth.splat import palette_map, spectral_noise

    for slope in (1.5, 2.0, 2.8):
        field = spectral_noise(np.random.default_rng(0), 256, 256, slope)
        assert field.shape == (256, 256) and field.min() >= 0 and field.max() <= 1
        power = np.abs(np.fft.fft2(field - field.mean())) ** 2
        f = np.hypot(*np.meshgrid(np.fft.fftfreq(256), np.fft.fftfreq(256), indexing="ij"))
        band = (f > 0.02) & (f < 0.25)
        fitted = -np.polyfit(np.log(f[band]), np.log(power[band]), 1)[0]
        assert abs(fitted - slope) < 0.3, (slope, fitted)
    colours = palette_map(np.array([[0.0, 0.5, 1.0]]), np.array([[0, 0, 0], [100, 50, 0], [200, 200, 200]], float))
    assert np.allclose(colours[0], [[0, 0, 0], [100, 50, 0], [200, 200, 200]])


def test_each_mimic_moves_within_its_span_and_differs_from_a_spasm_as_a_clinician_would_say():
    from spasmscope.synth.look import ELBOW, HIP, SHOULDER, TRUNK
    from spasmscope.synth.motion import MIMIC_SECONDS, MIMICS, mimic

    t = np.arange(0, 10, 1 / 60)
    onset = 2.0
    moves = {kind: mimic(kind, t, onset) for kind in MIMICS}
    for kind, m in moves.items():
        assert m.pose.shape == (len(t), 15) and m.body.shape == (len(t), 3) and m.hand.shape == (len(t), 4)
        assert np.array_equal(m.pose, mimic(kind, t, onset).pose)  # deterministic
        outside = (t < onset) | (t > onset + MIMIC_SECONDS[kind] + 0.05)
        assert np.abs(m.pose[outside]).max(initial=0) < 1e-3 and np.abs(m.body[outside]).max(initial=0) < 1e-3, kind
        assert np.abs(m.pose).max() + np.abs(m.body).max() > 0.05, kind  # it moves something
    with pytest.raises(ValueError, match="unknown mimic"):
        mimic("sneeze", t, onset)

    def longest_above_half(x: np.ndarray) -> float:
        run = best = 0
        for above in np.abs(x) > 0.5 * np.abs(x).max():
            run = run + 1 if above else 0
            best = max(best, run)
        return best / 60

    # Sleep myoclonus and hiccups are jerks: nothing stays near its peak for long (a spasm holds 0.5-2 s).
    limbs = np.abs(moves["myoclonus"].pose[:, [*SHOULDER, *HIP]]).max(axis=1)
    assert longest_above_half(limbs) < 0.2
    assert longest_above_half(moves["hiccups"].pose[:, TRUNK]) < 0.1
    jerks = np.diff((moves["hiccups"].pose[:, TRUNK] > 0.5 * moves["hiccups"].pose[:, TRUNK].max()).astype(int)) == 1
    assert 2 <= jerks.sum() <= 4
    # A stretch reaches the posture of an extensor spasm, but slowly: 10% to 90% in over 0.6 s (a spasm: 0.2-0.5 s).
    arm = moves["stretch"].pose[:, SHOULDER[0]]
    rise = t[np.argmax(arm > 0.9 * arm.max())] - t[np.argmax(arm > 0.1 * arm.max())]
    assert rise > 0.6
    # Crying moves the two sides out of step; a spasm moves them together.
    cry = moves["crying"].pose
    assert np.corrcoef(cry[:, SHOULDER[0]], cry[:, SHOULDER[1]])[0, 1] < 0.5 and np.abs(cry[:, ELBOW[0]]).max() > 0.2
    # Carers move the whole infant: rocking turns it back and forth, patting shows a hand, lifting carries it away.
    rocked = moves["rocked"].body[:, 2]
    assert rocked.max() > 0.05 and rocked.min() < -0.05 and np.abs(moves["rocked"].pose).max() == 0
    assert moves["patted"].hand[:, 0].max() == 1 and np.ptp(moves["patted"].body[:, 0] + moves["patted"].body[:, 1]) > 0.01
    assert np.hypot(moves["lifted"].body[:, 0], moves["lifted"].body[:, 1]).max() > 0.25


def test_mimics_and_spasm_variety_leave_a_cohort_as_it_was_and_are_drawn_and_marked():
    from spasmscope.synth.look import NECK, SHOULDER

    base = SynthConfig(children=4, healthy=2, seed=6, startle_rate=0.3)
    plain = plan_cohort(base)
    mimicked = plan_cohort(dataclasses.replace(base, mimic_rate=0.8))
    assert [dataclasses.replace(p, mimics=()) for p in mimicked] == plain and all(p.mimics == () for p in plain)
    for p in mimicked:
        for kind, o in p.mimics:
            s = int(o // 5)
            assert p.labels[s] == 0 and not any(s * 5 <= x < (s + 1) * 5 for x in p.startles) and o + 0.0 <= (s + 1) * 5
    assert sum(len(p.mimics) for p in mimicked) >= 5
    p = next(p for p in mimicked if p.mimics)
    (_, tl_plain), (_, tl_mimic) = scene_and_timeline(dataclasses.replace(p, mimics=())), scene_and_timeline(p)
    assert not np.array_equal(tl_plain.pose, tl_mimic.pose) or not np.array_equal(tl_plain.body, tl_mimic.body)

    varied = plan_cohort(dataclasses.replace(base, spasm_variety=1.0))
    assert [dataclasses.replace(p, look=dataclasses.replace(p.look, spasm=())) for p in varied] == [
        dataclasses.replace(p, look=dataclasses.replace(p.look, spasm=())) for p in plain]
    changed = [(a.look.spasm, b.look.spasm) for a, b in zip(plain, varied, strict=True) if a.look.spasm != b.look.spasm]
    assert changed  # some children's spasms took another form
    for before, after in changed:
        before, after = np.array(before), np.array(after)
        lopsided = abs(after[SHOULDER[0]]) != abs(after[SHOULDER[1]])
        assert lopsided or np.abs(after).sum() < np.abs(before).sum() or after[NECK] > 0.5


def test_synth_writes_the_mimic_column_on_segments_without_a_spasm(tmp_path):
    import pandas as pd

    r = run_cli("synth", str(tmp_path / "c"), "--children", "3", "--healthy", "1", "--seed", "4", "--mimic-rate", "0.9", "--workers", "1")
    assert r.returncode == 0, r.stderr
    manifest = pd.read_csv(tmp_path / "c" / "manifest.csv", keep_default_na=False)
    assert set(manifest["mimic"]) - {""} <= {"myoclonus", "hiccups", "crying", "stretch", "feeding", "rocked", "patted", "lifted"}
    assert (manifest["mimic"] != "").sum() >= 3 and (manifest.loc[manifest["mimic"] != "", "label"] == 0).all()


def test_the_implicit_renderers_field_is_a_distance_falloff_from_each_bone():
    from spasmscope.synth.implicit import LEVEL, bone_field, segment_distance

    rng = np.random.default_rng(4)
    grid = rng.uniform(-3, 3, (40, 2))
    a, b = np.array([0.5, -1.0]), np.array([-1.2, 2.0])
    # The distance to a segment: the nearest of 20,001 points along it, found by brute force.
    along = a + np.linspace(0, 1, 20001)[:, None] * (b - a)
    brute = np.sqrt(((grid[:, None, :] - along[None]) ** 2).sum(axis=-1)).min(axis=1)
    assert np.allclose(segment_distance(grid, a, b), brute, atol=1e-3)
    assert np.allclose(segment_distance(grid, a, a), np.linalg.norm(grid - a, axis=1))  # a bone of no length: a point
    d = np.array([0.0, 0.7, 1.4, 2.8])
    assert np.allclose(bone_field(d, 1.4), [1.0, LEVEL**0.25, LEVEL, LEVEL**4])


def test_the_implicit_renderer_draws_one_body_lit_from_its_light_and_deterministically():
    from spasmscope.synth.implicit import ImplicitScene

    plans = _plans("implicit")
    still = next(p for p in plans if not p.rec.handheld and not p.rec.wide)
    scene, tl = scene_and_timeline(still)
    assert isinstance(scene, ImplicitScene)
    k = next(k for k in range(len(tl.t)) if tl.hand[k, 0] == 0)
    frame = scene.render(tl, k)
    assert np.array_equal(frame, scene_and_timeline(still)[0].render(tl, k))
    # One surface: where the infant is drawn is a single piece (parts merge), not a set of separate shapes.
    empty = scene.render(dataclasses.replace(tl, present=np.zeros(len(tl.t), bool)), k)
    drawn = (np.abs(frame.astype(int) - empty.astype(int)).max(axis=2) > 20).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(drawn)
    assert n >= 2 and stats[1:, cv2.CC_STAT_AREA].max() > 0.97 * stats[1:, cv2.CC_STAT_AREA].sum()
    # Shading from the surface's normals: on a dome, the brightest point lies towards the light.
    r = 30
    yy, xx = np.mgrid[-40:41, -40:41].astype(float)
    dome = np.sqrt(np.clip(r**2 - xx**2 - yy**2, 0, None))
    for azimuth in (0.3, 2.0, 4.0):
        scene.light = np.array([0.6 * np.cos(azimuth), 0.6 * np.sin(azimuth), 0.8])
        shade = scene._shade(dome, 1.0)
        y, x = np.unravel_index(np.argmax(np.where(dome > 0, shade, -1)), shade.shape)
        towards = np.array([x - 40, y - 40]) / max(np.hypot(x - 40, y - 40), 1e-6)
        assert towards @ np.array([np.cos(azimuth), np.sin(azimuth)]) > 0.95
        assert shade[40, 40] > shade[40 + int(25 * np.sin(azimuth + np.pi)), 40 + int(25 * np.cos(azimuth + np.pi))]
