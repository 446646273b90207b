"""The synthetic cohort: structure, determinism, labels against events, recording variety, difficulty."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from spasmscope.data.characteristics import grey
from spasmscope.data.manifest import read_events, read_manifest
from spasmscope.data.video import probe, read_frames, read_segment
from spasmscope.synth import SynthConfig, plan_cohort
from spasmscope.synth.cohort import drawn_segment, infant_boxes, recorded_config, scene_and_timeline
from spasmscope.synth.look import N_POSE
from spasmscope.synth.motion import MIMICS


def test_plans_are_deterministic_and_looks_stay_with_the_child():
    a, b = plan_cohort(SynthConfig(children=4, healthy=2, seed=3)), plan_cohort(SynthConfig(children=4, healthy=2, seed=3))
    assert a == b
    assert a != plan_cohort(SynthConfig(children=4, healthy=2, seed=4))
    by_child: dict[str, set] = {}
    for p in a:
        by_child.setdefault(p.child, set()).add(p.look)
        assert len(p.look.rest) == len(p.look.spasm) == N_POSE
    assert all(len(looks) == 1 for looks in by_child.values())
    assert len({next(iter(v)) for v in by_child.values()}) == len(by_child)  # every child looks different


def test_spasms_are_symmetric_and_inside_spasm_segments():
    for p in plan_cohort(SynthConfig(children=6, healthy=2, seed=5)):
        spasm = np.asarray(p.look.spasm)
        assert np.allclose(spasm[[3, 5, 7, 9, 11, 13]], spasm[[4, 6, 8, 10, 12, 14]])  # left == right
        for s in p.spasms:
            assert 0.2 <= s.rise <= 0.5 and 0.5 <= s.hold <= 2.0
            seg = int(s.onset // 5)
            assert p.labels[seg] == 1 and s.offset <= (seg + 1) * 5
        assert sum(p.labels) == len(p.spasms)
        if p.child.startswith("hc"):
            assert not p.spasms and not any(p.labels)


def test_recording_variety_over_a_large_plan():
    recs = [p.rec for p in plan_cohort(SynthConfig(children=120, healthy=60, seed=0))]
    heights = {min(r.width, r.height) for r in recs}
    assert {240, 1080} <= heights
    assert {15.0, 60.0} <= {float(r.fps) for r in recs} and any(abs(float(r.fps) - 29.97) < 0.01 for r in recs)
    assert any(r.height > r.width for r in recs) and any(r.width > r.height for r in recs)
    assert {90, 270} <= {r.rotation for r in recs}
    assert any(r.night for r in recs) and any(r.wide for r in recs) and any(r.blur > 0 for r in recs)
    assert len({r.bitrate for r in recs}) > len(recs) // 2


def test_written_cohort_matches_its_plan(small_cohort):
    m = read_manifest(small_cohort / "manifest.csv", require_labels=True)
    events = read_events(small_cohort / "events.csv")
    cfg = SynthConfig(children=3, healthy=2, seed=11, wide_fraction=0.3, night_fraction=0.3, segments_per_video=(2, 3))
    plans = {f"{p.folder}/{p.name}": p for p in plan_cohort(cfg)}
    assert set(m.rows.video) == set(plans)
    for video, p in plans.items():
        info = probe(small_cohort / video)
        assert (info.width, info.height, info.rotation) == (p.rec.width, p.rec.height, p.rec.rotation)
        assert info.fps == pytest.approx(float(p.rec.fps), rel=1e-3) and info.duration == pytest.approx(p.duration, abs=0.1)
    # Every spasm segment holds an event and every event lies in a spasm segment.
    for r in m.rows.itertuples():
        ev = events[(events.video == r.video) & (events.onset >= r.start) & (events.offset <= r.end)]
        assert len(ev) == r.label
    assert len(events) == m.rows.label.sum()
    assert set(m.rows.cohort) == {"derivation", "healthy"}


def test_movements_are_listed_where_the_body_or_the_camera_moves(small_cohort):
    from spasmscope.synth.cohort import scene_and_timeline

    cfg = SynthConfig(children=4, healthy=2, seed=8, startle_rate=0.5, mimic_rate=0.5, wide_fraction=0.5, segments_per_video=(3, 4))
    inside_speed, outside_speed, camera_in, camera_out = [], [], [], []
    for p in plan_cohort(cfg):
        _, tl = scene_and_timeline(p)
        speed = np.r_[0, np.abs(np.diff(tl.pose, axis=0)).sum(axis=1)] * float(p.rec.fps)  # rad/s over all joints
        camera = np.r_[0, np.abs(np.diff(tl.camera, axis=0)).sum(axis=1)]
        body_kinds = [(a, b) for k, a, b in tl.movements if k not in ("jolt", "zoom")]
        moving = np.zeros(len(tl.t), bool)
        for a, b in body_kinds:
            moving |= (tl.t >= a) & (tl.t < b)
        spasm = np.zeros(len(tl.t), bool)
        for sp in p.spasms:
            spasm |= (tl.t >= sp.onset) & (tl.t < sp.offset)
        inside_speed += list(speed[moving & ~spasm])
        outside_speed += list(speed[~moving & ~spasm])
        for k, a, b in tl.movements:
            assert 0 <= a < b <= p.duration and k in ("kick", "flail", "turn", "hand", "jolt", "zoom", "startle", *MIMICS)
            (camera_in if k in ("jolt", "zoom") else camera_out).append(camera[(tl.t >= a) & (tl.t < b)].mean())
        for s, label in enumerate(p.labels):  # each startle the manifest marks is listed, starting in its segment
            if any(s * 5 <= o < (s + 1) * 5 for o in p.startles):
                assert any(k == "startle" and s * 5 <= a < (s + 1) * 5 for k, a, b in tl.movements)
    assert np.mean(inside_speed) > 2 * np.mean(outside_speed)
    assert camera_in and np.mean(camera_in) > 2 * np.mean(camera_out)
    written = pd.read_csv(small_cohort / "movements.csv")
    assert list(written.columns) == ["video", "kind", "onset", "offset"] and len(written)
    assert set(written.video) <= set(read_manifest(small_cohort / "manifest.csv").rows.video) and (written.offset > written.onset).all()


def test_infant_box_is_where_the_infant_is(small_cohort):
    # The infant differs from its surroundings: pixels inside the written box change when the infant
    # moves, pixels far outside (static camera) do not.
    plans = [p for p in plan_cohort(SynthConfig(children=3, healthy=2, seed=11, wide_fraction=0.3, night_fraction=0.3, segments_per_video=(2, 3))) if p.rec.wide]
    assert plans, "the small cohort has wide-view recordings"
    pos = pd.read_csv(small_cohort / "positions.csv")
    for p in plans:
        video = f"{p.folder}/{p.name}"
        boxes = pos[pos.video == video]
        assert len(boxes) == len(infant_boxes(p))
        x, y, w, h = boxes[["x", "y", "w", "h"]].median()
        assert w * h < 0.25 * p.rec.width * p.rec.height  # small infant in a wide view
        frames = grey(read_frames(small_cohort / video, np.arange(0.0, p.duration - 0.1, 0.25)))
        change = np.abs(np.diff(frames, axis=0)).mean(axis=0)
        inside = np.zeros_like(change, bool)
        inside[int(y) : int(y + h), int(x) : int(x + w)] = True
        assert change[inside].mean() > 3 * change[~inside].mean()


@pytest.fixture(scope="module")
def cohort20(tmp_path_factory):
    """The acceptance cohort: 20 children with spasms and 10 healthy, through the real CLI (enough children for a
    child-level CV AUC to mean something)."""
    out = tmp_path_factory.mktemp("cohort20")
    r = run_cli("synth", str(out), "--children", "20", "--healthy", "10", "--seed", "0", timeout=1200)
    assert r.returncode == 0, r.stderr
    return out


@pytest.mark.slow
def test_motion_statistics_do_not_separate_spasms(cohort20):
    """A logistic regression on mean and maximum frame difference reaches child-level CV AUC <= 0.80."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    m = pd.read_csv(cohort20 / "manifest.csv")
    features = []
    for r in m.itertuples():
        diffs = np.abs(np.diff(grey(read_segment(cohort20 / r.video, r.start, r.end, size=(128, 128))), axis=0)).mean(axis=(1, 2))
        features.append((diffs.mean(), diffs.max()))
    x, y = np.asarray(features), m.label.to_numpy()
    assert 0.2 < y.mean() < 0.6
    cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
    scores = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression()), x, y, groups=m.child, cv=cv, method="predict_proba")[:, 1]
    auc = roc_auc_score(y, scores)
    print(f"motion-statistics logistic regression, child-level 5-fold CV AUC = {auc:.3f}")
    assert auc <= 0.80


def test_the_drawn_posture_answers_the_question():
    """The other side of the difficulty: from where the drawn body parts are in the 16 frames a clip shows, a
    gradient-boosted probe separates spasm clips (benchmarks/pose_oracle.py), so the task is learnable from pixels."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "pose_oracle.py"
    r = subprocess.run([sys.executable, str(script), "--clips", "400"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["held_out"] == 100
    assert result["posture_auc"] >= 0.95, result


def test_synth_prepare_probe_end_to_end(small_cohort, tmp_path):
    prep = run_cli("prepare", str(small_cohort / "manifest.csv"), "--cache", str(tmp_path / "cache"), "--size", "64", timeout=1200)
    assert prep.returncode == 0, prep.stderr
    m = pd.read_csv(small_cohort / "manifest.csv")
    n = len(m)
    assert f"{n} segments: {n} decoded" in prep.stdout
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == n
    probe_run = run_cli("probe", str(small_cohort / "manifest.csv"), "--out", str(tmp_path / "t.csv"), "--table1", str(tmp_path / "t1.csv"), timeout=1200)
    assert probe_run.returncode == 0, probe_run.stderr
    table, t1 = pd.read_csv(tmp_path / "t.csv"), pd.read_csv(tmp_path / "t1.csv")
    assert (table.level == "segment").sum() == n and (table.level == "video").sum() == m.video.nunique()
    children = t1[t1.variable == "children"].set_index("cohort")["n"]
    assert children.to_dict() == {"derivation": 3, "healthy": 2}
    assert {"views", "likes", "brightness", "sharpness", "motion", "bitrate"} <= set(t1.variable)
    assert "derivation" in probe_run.stdout and "segments per child" in probe_run.stdout


def test_a_segment_drawn_straight_is_the_decoded_one_without_the_codec(small_cohort):
    """``drawn_segment`` gives the frames ``read_segment`` decodes from the cohort's video, up to the codec's loss: at
    24 fps, at 60 fps in a video stored on its side (a display matrix) and in a healthy infant's, each frame is closer
    to its decoded twin than to the decoded frame half a second earlier (benchmarks/where_lost.py scores both).
    ``recorded_config`` gives back the configuration that drew the cohort, so its plans are the videos'."""
    from spasmscope.data.preprocess import ClipConfig, decode_size

    cfg = recorded_config(small_cohort)
    assert cfg == SynthConfig(children=3, healthy=2, seed=11, wide_fraction=0.3, night_fraction=0.3, segments_per_video=(2, 3))
    plans = {f"{p.folder}/{p.name}": p for p in plan_cohort(cfg)}
    m = pd.read_csv(small_cohort / "manifest.csv")
    assert set(m.video) == {v for v, p in plans.items() if p.labels}
    cases = {("videos/es000_v0.mp4", 0.0), ("videos/es001_v1.mp4", 5.0), ("videos/hc001_v0.mp4", 5.0)}
    assert {(plans[v].rec.fps, plans[v].rec.rotation) for v, _ in cases} >= {(24, 0), (60, 90)}
    for video, start in sorted(cases):
        info = probe(small_cohort / video)
        size = decode_size(info.width, info.height, ClipConfig())
        drawn = drawn_segment(*scene_and_timeline(plans[video]), start, start + 5.0, size).astype(np.int16)
        decoded = read_segment(small_cohort / video, start, start + 5.0, size=size).astype(np.int16)
        assert drawn.shape == decoded.shape == (150, size[1], size[0], 3)
        error = np.abs(drawn - decoded).mean(axis=(1, 2, 3))
        later = np.abs(drawn[15:] - decoded[:-15]).mean(axis=(1, 2, 3))
        assert error.mean() < 9 and error.mean() < 0.6 * later.mean(), (video, error.mean(), later.mean())


def test_recorded_config_names_a_folder_synth_did_not_write(tmp_path):
    from spasmscope.errors import InputError

    with pytest.raises(InputError, match="synth.json"):
        recorded_config(tmp_path)


def test_measured_night_flag_matches_the_generator(small_cohort):
    from spasmscope.data.characteristics import span_visual

    m = pd.read_csv(small_cohort / "manifest.csv")
    truth = m.groupby("video")["recorded_night"].first()
    assert 0 < truth.sum() < len(truth)
    for video, night in truth.items():
        info = probe(small_cohort / video)
        assert span_visual(small_cohort / video, 0.0, info.duration, 6).night == bool(night), video


def _rerecord_module():
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "rerecord.py"
    spec = importlib.util.spec_from_file_location("rerecord", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up by name
    spec.loader.exec_module(module)
    return module, path


def test_the_held_out_sensor_noise_grows_with_the_light_in_blotches_of_colour():
    """benchmarks/rerecord.py's sensor: noise variance shot x level + read^2, correlated between neighbours (drawn at
    half resolution), independent between colour channels; the exposure and tint scale the mean."""
    rerecord, _ = _rerecord_module()
    phone = rerecord.Phone(shot=0.5, read=2.0, swing=0.1, hertz=0.25, phase=0.0, tint=(0.95, 1.0, 1.05), bits_per_pixel=0.1, seed=0)
    rng = np.random.default_rng(0)
    out = {level: rerecord.sensor_frame(np.full((240, 320, 3), level, np.uint8), phone, 1.0, rng).astype(np.float64) for level in (30, 180)}
    gain = np.array(phone.tint) * (1 + phone.swing * np.sin(2 * np.pi * phone.hertz * 1.0 + phone.phase))
    for level, frame in out.items():
        assert np.allclose(frame.mean(axis=(0, 1)), level * gain, atol=0.5)
    ratio = out[180].std(axis=(0, 1)) / out[30].std(axis=(0, 1))
    assert np.allclose(ratio, np.sqrt((0.5 * 180 * gain + 4) / (0.5 * 30 * gain + 4)), rtol=0.1)
    noise = out[180] - out[180].mean(axis=(0, 1))
    assert np.corrcoef(noise[:, :-1, 1].ravel(), noise[:, 1:, 1].ravel())[0, 1] > 0.3
    assert abs(np.corrcoef(noise[..., 0].ravel(), noise[..., 2].ravel())[0, 1]) < 0.05


def test_the_held_out_hand_shakes_by_its_drawn_spread_with_a_tremor_in_its_band():
    """benchmarks/rerecord.py's hand: the sway's and the roll's RMS are the drawn ones, the 7-12 Hz band holds the
    tremor's, and ``at`` takes times of any shape."""
    rerecord, _ = _rerecord_module()
    hand = rerecord.Hand(sway=0.02, tremor=0.003, roll=0.01, regrip_rate=0.0, regrip=0.05, readout=0.02, exposure=0.01, margin=0.1, seed=3)
    path = rerecord.HandPath(hand, 600.0)
    t = np.arange(0.0, 600.0, 1e-3)
    x, y, roll = path.at(t)
    assert np.allclose([x.std(), y.std()], np.hypot(hand.sway, hand.tremor), rtol=0.1)
    assert roll.std() == pytest.approx(hand.roll, rel=0.1)
    power = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(t), 1e-3)
    assert np.sqrt(power[(f > 7) & (f < 12)].sum() / power[1:].sum()) * x.std() == pytest.approx(hand.tremor, rel=0.1)
    grid = t[:12].reshape(3, 4)
    assert np.array_equal(path.at(grid), path.at(t[:12]).reshape(3, 3, 4))


def test_the_held_out_hand_enlarges_the_picture_and_rolls_its_shutter():
    """A still hand only enlarges the picture about its centre (as OpenCV's own affine warp does); a hand sliding
    sideways at a steady speed slants an upright line by the distance it slides while the rows are read."""
    import cv2

    rerecord, _ = _rerecord_module()
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[:, 78:82] = 255
    frame[50:70, 20:40] = 128
    still = rerecord.Hand(sway=0.0, tremor=0.0, roll=0.0, regrip_rate=0.0, regrip=0.0, readout=0.03, exposure=0.01, margin=0.1, seed=0)
    enlarged = rerecord.hand_frame(frame, rerecord.HandPath(still, 10.0), still, 1.0)
    affine = cv2.getRotationMatrix2D((79.5, 59.5), 0.0, 1.1)
    reference = cv2.warpAffine(frame, affine, (160, 120), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    assert np.abs(enlarged.astype(int) - reference.astype(int)).max() <= 1

    class Sliding:  # the picture moves right at `speed` short sides per second, nothing else
        speed = 0.5

        def at(self, t):
            t = np.asarray(t, np.float64)
            return np.stack([self.speed * t, np.zeros_like(t), np.zeros_like(t)])

    sliding = rerecord.Hand(sway=0.0, tremor=0.0, roll=0.0, regrip_rate=0.0, regrip=0.0, readout=0.04, exposure=1e-6, margin=0.0, seed=0)
    out = rerecord.hand_frame(frame, Sliding(), sliding, 0.0, subframes=1)
    centre = lambda row: float((out[row, :, 0].astype(float) * np.arange(160)).sum() / out[row, :, 0].astype(float).sum())
    # The pixel at x shows the scene at x + shift: later rows, shifted further, show the line further left.
    slant = centre(0) - centre(119)
    assert slant == pytest.approx(Sliding.speed * sliding.readout * 120 * 119 / 120, abs=0.3)


def test_a_held_hand_changes_the_picture_and_keeps_each_videos_sensor(tmp_path):
    """``rerecord.py --hand`` writes each video's hand beside its phone, and the phone is the one drawn without a
    hand (the hand has its own random stream), so a copy with the hand differs from one without by the hand alone."""
    import json

    from spasmscope.data.writer import VideoWriter

    rerecord, _ = _rerecord_module()
    cohort = tmp_path / "cohort"
    rng = np.random.default_rng(0)
    scene = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    with VideoWriter(cohort / "videos" / "a.mp4", 64, 48, fps=10) as writer:
        for _ in range(10):
            writer.write(scene)
    (cohort / "manifest.csv").write_text("video,child,start,end,label,cohort\nvideos/a.mp4,a,0.0,1.0,0,derivation\n")
    copies = {}
    for name, extra in (("plain", []), ("hand", ["--hand"])):
        assert rerecord.main([str(cohort), str(tmp_path / name), *extra]) == 0
        copies[name] = json.loads((tmp_path / name / "rerecord.json").read_text())
    assert copies["hand"]["phones"] == copies["plain"]["phones"] and "hands" not in copies["plain"]
    assert copies["hand"]["hands"]["videos/a.mp4"] == json.loads(json.dumps(rerecord.asdict(rerecord.draw_hand(0, "videos/a.mp4"))))
    times = np.array([0.25, 0.75])
    plain, held = (read_frames(tmp_path / name / "videos" / "a.mp4", times).astype(float) for name in ("plain", "hand"))
    assert np.abs(plain - held).mean() > 5  # a random scene enlarged and shaken is another picture


@pytest.mark.slow
def test_rerecording_a_cohort_keeps_its_frames_and_labels_and_changes_its_camera(small_cohort, tmp_path):
    import shutil
    import subprocess
    import sys

    rerecord, script = _rerecord_module()
    # Three of the small cohort's videos, a wide view among them: enough for both workers, and a third of the time.
    rows = pd.read_csv(small_cohort / "manifest.csv")
    videos = sorted({*sorted(set(rows.video))[:2], *sorted(set(rows.video[rows.view == "wide"]))[:1]})
    cohort = tmp_path / "cohort"
    for video in videos:
        (cohort / video).parent.mkdir(parents=True, exist_ok=True)
        (cohort / video).symlink_to(small_cohort / video)
    rows[rows.video.isin(videos)].to_csv(cohort / "manifest.csv", index=False)
    for name in rerecord.COPIED:  # the files the script copies beside the manifest
        shutil.copy(small_cohort / name, cohort / name)
    out = tmp_path / "rerecorded"
    r = subprocess.run([sys.executable, str(script), str(cohort), str(out), "--workers", "2"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert (out / "manifest.csv").read_text() == (cohort / "manifest.csv").read_text()
    assert (out / "events.csv").read_text() == (small_cohort / "events.csv").read_text()
    assert len(videos) == 3 and sorted(p.relative_to(out).as_posix() for p in (out / "videos").iterdir()) == videos
    for video in videos:
        a, b = probe(small_cohort / video), probe(out / video)
        assert (b.codec, b.width, b.height, b.frame_count) == ("mpeg4", a.width, a.height, a.frame_count)
        assert abs(b.fps - a.fps) < 1e-3
        times = np.array([0.5, a.duration - 0.5])
        before, after = read_frames(small_cohort / video, times).astype(float), read_frames(out / video, times).astype(float)
        difference = np.abs(before - after).mean()
        assert 0.5 < difference < 20, (video, difference)
    again = subprocess.run([sys.executable, str(script), str(cohort), str(out)], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and '"written": 0' in again.stdout  # resumes: nothing is written twice
    bad = subprocess.run([sys.executable, str(script), str(tmp_path / "nowhere"), str(out)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "nowhere" in bad.stderr and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
