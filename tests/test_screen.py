"""Screening recordings: streaming windows, the crop around the infant, the quality gate, the ONNX detector,
resume, and the command line on good and bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import BAD_VIDEOS, cli_runs, make_video, one_line_error, run_cli, write_bad_videos

from spasmscope.data.cache import SegmentCache, load_clips, prepare
from spasmscope.data.detector import OnnxDetector, decode_yolo, letterbox
from spasmscope.data.localise import (
    LocaliseConfig,
    MotionLocaliser,
    camera_shift,
    crop_around,
    steady_paths,
    steady_taps,
    upper_quartile,
    zoom_around,
)
from spasmscope.data.manifest import read_manifest
from spasmscope.data.preprocess import ClipConfig, clip_taps, crop_clip, decode_size, make_clips, working_size
from spasmscope.data.segments import window_spans
from spasmscope.data.video import iter_frames, probe, read_frames, read_segment
from spasmscope.data.windows import WindowConfig, windows_of
from spasmscope.model.architecture import HieraConfig
from spasmscope.model.config import RunConfig, TrainConfig
from spasmscope.model.hiera import Hiera
from spasmscope.model.inference import score_clips
from spasmscope.model.weights import save_model
from spasmscope.screening.events import merge_close
from spasmscope.screening.recording import screen_video
from spasmscope.screening.screen import ScreenConfig, screen

TINY = HieraConfig(input_size=(8, 32, 32), embed_dim=16, num_heads=1, stages=(1, 1, 1, 1))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model")
    save_model(folder, Hiera(TINY), RunConfig("cpu", TINY, ClipConfig(frames=8, size=32), TrainConfig()), {"kind": "test"})
    return folder


@pytest.fixture(scope="module")
def long_cohort(tmp_path_factory) -> Path:
    """A 150-s wide-view recording (640x360) with spasms, a stretch without the infant and one in the dark."""
    from spasmscope.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("long")
    generate(SynthConfig(children=1, healthy=0, seed=2, long_minutes=2.5, segments_per_video=(2, 2), videos_per_child=(1, 1)), out)
    return out


def test_camera_shift_measures_a_known_translation():
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (200, 360)).astype(np.float32), (0, 0), 2.0)
    # The camera pans 1.5 px right and 0.5 px down per frame: 3.16 px between frames two apart.
    moved = [cv2.warpAffine(texture, np.float32([[1, 0, 1.5 * k], [0, 1, 0.5 * k]]), (360, 200), borderMode=cv2.BORDER_REFLECT) for k in range(12)]
    assert camera_shift(np.stack(moved)[:, 20:-20, 20:-20], lag=2) == pytest.approx(np.hypot(3.0, 1.0), abs=0.3)
    assert camera_shift(np.stack([texture] * 12), lag=2) < 0.2  # phase correlation's sub-pixel peak is biased by ~0.1 px
    assert camera_shift(np.stack([texture] * 2), lag=2) == 0.0


def _drawn_close_view(seed: int, handheld: bool) -> tuple[np.ndarray, np.ndarray]:
    """5 s of a small infant on a checked blanket, 640x360 at 30 fps, with the infant's true boxes (x, y, w, h)."""
    import dataclasses
    from fractions import Fraction

    from spasmscope.synth.look import sample_look, sample_recording
    from spasmscope.synth.motion import make_timeline
    from spasmscope.synth.render import Scene

    rng = np.random.default_rng(seed)
    look = dataclasses.replace(sample_look(rng), pattern=2, distance=0.45)
    rec = dataclasses.replace(sample_recording(rng, wide=False, night=False), width=640, height=360, fps=Fraction(30), blur=0.0, handheld=handheld)
    scene = Scene(look, rec, rng)
    timeline = make_timeline(rng, look, rec, 5.0, [], [(0.0, 5.0, 0.9)])
    frames = np.stack([scene.render(timeline, k) for k in range(len(timeline.t))])
    return frames, np.array([scene.box(timeline, k) for k in range(len(timeline.t))])


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_the_crop_never_cuts_a_hand_held_infant(seed):
    # A shaking phone moves a patterned blanket as much as the infant; the box around the most movement used to
    # keep a quarter of the infant (seed 4). The frames are now steadied first, and the crop follows the camera:
    # a zoom of the frame's own shape for the moving phone, a square for the still one.
    for handheld in (True, False):
        frames, boxes = _drawn_close_view(seed, handheld)
        found = MotionLocaliser().update(frames, 30.0)
        x, y, w, h = found.crop
        held = (boxes[:, 0] >= x) & (boxes[:, 1] >= y) & (boxes[:, 0] + boxes[:, 2] <= x + w) & (boxes[:, 1] + boxes[:, 3] <= y + h)
        assert held.mean() >= 0.9 and found.visibility > 0.5
        if handheld:
            assert w < 640 and w / h == pytest.approx(640 / 360, abs=0.01)
        else:
            assert w == h and w * h < 0.55 * 640 * 360


def _textured(rng: np.random.Generator, width: int = 320, height: int = 180) -> np.ndarray:
    return cv2.GaussianBlur(rng.uniform(0, 255, (height, width)).astype(np.float32), (0, 0), 1.5)


def test_steady_paths_undo_a_known_camera_path_despite_a_moving_infant():
    rng = np.random.default_rng(1)
    scene = _textured(rng)
    frames, truth = [], []
    for k in range(13):
        # The camera turns, zooms and shifts a little each frame (up to 1 degree, 2%, 6 px) ...
        cam = cv2.getRotationMatrix2D((160, 90), 0.08 * (k - 6), 1 + 0.0015 * (k - 6))
        cam[:, 2] += (0.5 * (k - 6), -0.3 * (k - 6))
        img = scene.copy()
        # ... while a bright "limb" swings in the middle of the scene, as an infant would.
        cv2.ellipse(img, (160, 90), (30, 8), 20 * k, 0, 360, 255.0, -1)
        frames.append(np.clip(cv2.warpAffine(img, cam, (320, 180), borderMode=cv2.BORDER_REFLECT), 0, 255).astype(np.uint8))
        truth.append(cam)
    paths = steady_paths(np.stack(frames))
    assert paths.shape == (13, 2, 3)
    # Each path maps frame k back onto the middle frame: composed with the camera's move, it is the middle
    # frame's own camera (to 0.2 px over the frame's corners).
    corners = np.array([[0, 0, 1], [319, 0, 1], [0, 179, 1], [319, 179, 1]], float)
    middle = corners @ truth[6].T
    for m, cam in zip(paths, truth):
        assert np.abs((corners @ cam.T) @ m[:, :2].T + m[:, 2] - middle).max() < 0.2


def test_refined_steadying_undoes_a_rolling_shutters_shear_the_corners_fit_cannot():
    # A rolling shutter under a sideways sway shifts each row in proportion to its height (a shear) and a vertical
    # sway stretches the rows apart; a rotation-scale-shift cannot hold that, an affine map refined on every still
    # pixel can, while a "limb" swings in the middle.
    rng = np.random.default_rng(5)
    scene = _textured(rng)
    frames, cams = [], []
    for k in range(13):
        shear = 0.02 * np.sin(0.8 * k)
        cam = np.array([[1.0, shear, 2 * np.sin(0.5 * k) - 90 * shear], [0.0, 1.0 + 0.01 * np.cos(0.7 * k), -0.9 * np.cos(0.7 * k)]])
        img = scene.copy()
        cv2.ellipse(img, (160, 90), (30, 8), 20 * k, 0, 360, 255.0, -1)
        frames.append(np.clip(cv2.warpAffine(img, cam, (320, 180), borderMode=cv2.BORDER_REFLECT), 0, 255).astype(np.uint8))
        cams.append(cam)
    corners = np.array([[0, 0, 1], [319, 0, 1], [0, 179, 1], [319, 179, 1]], float)
    middle = corners @ cams[6].T

    def error(paths: np.ndarray) -> float:  # pixels, the worst frame corner of the worst frame
        return max(float(np.abs((corners @ c.T) @ m[:, :2].T + m[:, 2] - middle).max()) for m, c in zip(paths, cams))

    assert error(steady_paths(np.stack(frames), refine=False)) > 3
    assert error(steady_paths(np.stack(frames), refine=True)) < 0.3


@pytest.mark.parametrize(("reach", "cropped"), [(8, False), (28, True)])
def test_a_moving_camera_is_cropped_only_around_a_body_sized_movement(reach, cropped):
    # A shaking camera over a textured scene; something in it swings to and fro. A swing 16 px across (one hand
    # of a quiet infant, a tenth of the short side) leaves the view whole; one 56 px across (a third) gets a crop that
    # holds it in every frame.
    rng = np.random.default_rng(2)
    scene = _textured(rng)
    frames, centres = [], []
    for k in range(150):
        t = k / 30
        img = scene.copy()
        cv2.circle(img, (int(150 + reach * np.sin(2 * np.pi * t)), 90), 6, 255.0, -1)
        shake = np.float32([[1, 0, 4 * np.sin(3 * t)], [0, 1, 3 * np.cos(2 * t)]])
        frames.append(np.repeat(np.clip(cv2.warpAffine(img, shake, (320, 180), borderMode=cv2.BORDER_REFLECT), 0, 255).astype(np.uint8)[..., None], 3, axis=2))
        centres.append((150 + shake[0, 2], 90 + shake[1, 2]))
    found = MotionLocaliser().update(np.stack(frames), 30.0)
    x, y, w, h = found.crop
    assert ((x, y, w, h) != (0, 0, 320, 180)) == cropped
    # The extent the rule compares: the swing and the disc across (2 x reach + 12 px) over the short side (180 px),
    # give or take the blur and the box's tails; a still camera reports none.
    assert found.steadied_extent == pytest.approx((2 * reach + 12) / 180, abs=0.05)
    assert (found.steadied_extent >= LocaliseConfig().steady_min_box) == cropped
    assert MotionLocaliser().update(np.repeat(np.stack(frames[:1]), 150, axis=0), 30.0).steadied_extent is None
    c = np.array(centres)
    assert (c[:, 0] - reach - 6 >= x).all() and (c[:, 0] + reach + 6 <= x + w).all() and (c[:, 1] - 6 >= y).all() and (c[:, 1] + 6 <= y + h).all()


def _shaken_segment(shake: float, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray], list[tuple[float, float]]]:
    """150 frames (30 fps, 180x320) of a textured scene with a bright disc moving across it, the camera rolling and
    shifting by up to ``shake`` degrees and 4 x ``shake`` px in each frame: frames, camera maps, the disc's true
    centres in the scene."""
    scene = _textured(rng)
    frames, cams, centres = [], [], []
    for k in range(150):
        img = scene.copy()
        centre = (110 + 0.6 * k, 90 + 20 * np.sin(k / 15))
        cv2.circle(img, (int(round(centre[0])), int(round(centre[1]))), 10, 255.0, -1)
        cam = cv2.getRotationMatrix2D((160, 90), shake * np.sin(1.3 * k), 1.0)
        cam[:, 2] += (4 * shake * np.sin(0.7 * k + 1), 4 * shake * np.cos(1.1 * k))
        frames.append(np.repeat(np.clip(cv2.warpAffine(img, cam, (320, 180), borderMode=cv2.BORDER_REFLECT), 0, 255).astype(np.uint8)[..., None], 3, axis=2))
        cams.append(cam)
        centres.append(centre)
    return np.stack(frames), cams, centres


def test_steadying_holds_a_shaken_scene_still_and_keeps_the_infants_movement():
    """The taps of a shaken segment are held onto the middle tap's frame: the background stands (to a grey level or
    two), and the disc that moves in the scene still moves, where the middle frame's camera puts it."""
    frames, cams, centres = _shaken_segment(2.0, np.random.default_rng(3))
    cfg = ClipConfig(frames=16, size=64, crop_infant=True, steady=True)
    taps = clip_taps(len(frames), cfg)
    held = steady_taps(frames, taps)
    middle = taps[len(taps) // 2]
    inner = (slice(30, 150), slice(40, 280))
    # Away from the disc (a mask of where it is in the middle frame's picture, in any tap) the picture is the middle one.
    still = np.ones((180, 320), bool)
    for i in taps:
        x, y = cams[middle] @ np.array([*centres[i], 1.0])
        cv2.circle(still.view(np.uint8), (int(round(x)), int(round(y))), 14, 0, -1)
    before = [np.abs(frames[i, ..., 0].astype(float) - frames[middle, ..., 0])[inner][still[inner]].mean() for i in taps]
    after = [np.abs(held[i, ..., 0].astype(float) - held[middle, ..., 0])[inner][still[inner]].mean() for i in taps]
    assert np.median(before) > 10 and max(after) < 2.5, (np.median(before), max(after))
    for i in taps[::5]:
        x, y = cams[middle] @ np.array([*centres[i], 1.0])
        ys, xs = np.nonzero(held[i, ..., 0] > 250)
        assert abs(xs.mean() - x) < 1.5 and abs(ys.mean() - y) < 1.5
    off = np.setdiff1d(np.arange(len(frames)), taps)
    assert np.array_equal(held[off], frames[off])  # frames no clip reads are not worked on


def test_a_still_camera_is_not_steadied():
    frames, _, _ = _shaken_segment(0.0, np.random.default_rng(4))
    assert steady_taps(frames, clip_taps(len(frames), ClipConfig(frames=16, size=64))) is frames
    steadied = ClipConfig(frames=16, size=64, crop_infant=True, steady=True)
    assert np.array_equal(crop_clip(frames, (40, 20, 240, 140), steadied), crop_clip(frames, (40, 20, 240, 140), ClipConfig(frames=16, size=64, crop_infant=True)))


def test_steady_paths_fall_back_to_phase_correlation_without_corners():
    # A plain wall with one picture on it has four corners, too few to fit a camera move to: the shift then
    # comes from phase correlation.
    frames = np.full((5, 180, 320), 60, np.uint8)
    for k, f in enumerate(frames):
        f[80 + k : 100 + k, 140 + 2 * k : 160 + 2 * k] = 200
    paths = steady_paths(frames)
    for k, m in enumerate(paths):
        assert np.array_equal(m[:, :2], np.eye(2))
        assert m[:, 2] == pytest.approx((2 * (2 - k), 2 - k), abs=0.3)


def test_iter_frames_streams_what_read_frames_reads(tmp_path):
    path = make_video(tmp_path / "v.mp4", 90, fps=30)
    times = np.arange(0, 3.0, 1 / 30)
    streamed = list(iter_frames(path, times))
    assert [i for i, _ in streamed] == list(range(len(times)))
    assert np.array_equal(np.stack([f for _, f in streamed]), read_frames(path, times))


def test_zoom_around_keeps_the_frames_shape_inside_the_frame_or_is_the_whole_frame():
    # 60 px of a 360-px-high frame, with half of it again on each side: a third of the frame, 640:360.
    assert zoom_around((300, 150, 40, 60), 640, 360, 0.5) == (214, 120, 213, 120)
    x, y, w, h = zoom_around((600, 330, 30, 30), 640, 360, 0.5)  # at the corner: pushed inside
    assert (w, h) == (107, 60) and x + w == 640 and y + h == 360
    assert zoom_around((100, 20, 300, 200), 640, 360, 0.5) == (0, 0, 640, 360)  # spans the frame: no crop


def test_crop_around_is_a_square_inside_the_frame_or_the_whole_frame():
    cfg = LocaliseConfig()
    assert crop_around((300, 100, 40, 60), 640, 360, cfg) == (260, 70, 120, 120)  # 60 * (1 + 2 * 0.5)
    x, y, w, h = crop_around((620, 340, 20, 20), 640, 360, cfg)  # at the corner: pushed inside
    assert (w, h) == (90, 90) and x + w == 640 and y + h == 360  # min side 0.25 * 360
    assert crop_around((100, 20, 300, 300), 640, 360, cfg) == (0, 0, 640, 360)  # most of the frame: no crop
    assert crop_around(None, 640, 360, cfg) == (0, 0, 640, 360)


@pytest.mark.slow
def test_screen_covers_the_recording_finds_the_infant_and_gates_quality(long_cohort, model_dir, tmp_path):
    video = str(long_cohort / "long" / "es000_long0.mp4")
    result = screen(model_dir, [video], tmp_path / "run", ScreenConfig())
    w = result.windows
    info = probe(video)
    # Windows cover the whole recording, every 2.5 s, the last one ending at the end.
    assert merge_close(w[["start", "end"]].to_numpy()).tolist() == [[0.0, pytest.approx(info.duration)]]
    assert np.allclose(w["start"].to_numpy()[:-1], np.arange(len(w) - 1) * 2.5)

    gaps = pd.read_csv(long_cohort / "gaps.csv")
    absent, dark = (gaps[gaps["kind"] == k][["start", "end"]].to_numpy()[0] for k in ("absent", "dark"))

    def within(span) -> pd.Series:
        return (w["start"] >= span[0]) & (w["end"] <= span[1])

    def touches(span) -> pd.Series:
        return (w["start"] < span[1]) & (w["end"] > span[0])

    assert within(absent).sum() >= 2 and within(dark).sum() >= 1
    assert (w.loc[within(absent), "reason"] == "no infant in view").all()
    assert (w.loc[within(dark), "reason"] == "too dark").all()
    clear = ~touches(absent) & ~touches(dark)
    assert w.loc[clear, "valid"].mean() >= 0.9
    # The lights going off and on again, inside a window: not scored, and nowhere else.
    switched = w["reason"] == "lighting changed"
    for edge in dark:
        assert (switched & (w["start"] < edge) & (w["end"] > edge)).any()
    assert all((r.start < dark[0] < r.end) or (r.start < dark[1] < r.end) for r in w[switched].itertuples())
    # Only valid windows are scored.
    assert w.loc[w["valid"] == 1, "score"].between(0, 1).all() and w.loc[w["valid"] == 0, "score"].isna().all()

    # The crop holds the infant: the generator's box centre lies in it at every position of >= 95% of valid windows.
    pos = pd.read_csv(long_cohort / "positions.csv")
    pos = pos[pos["video"] == "long/es000_long0.mp4"]
    hits = []
    for r in w[w["valid"] == 1].itertuples():
        p = pos[(pos["time"] >= r.start) & (pos["time"] < r.end)]
        cx, cy = p["x"] + p["w"] / 2, p["y"] + p["h"] / 2
        hits.append(bool(((cx >= r.crop_x) & (cx <= r.crop_x + r.crop_w) & (cy >= r.crop_y) & (cy <= r.crop_y + r.crop_h)).all()))
    assert np.mean(hits) >= 0.95
    assert (w.loc[w["valid"] == 1, "crop_w"] < info.height).mean() > 0.9  # a wide view is cropped, not kept whole

    # A second run with the same settings reads the finished recording back instead of screening it again.
    done = next((tmp_path / "run" / "recordings").glob("*/windows.csv"))
    stamp = done.stat().st_mtime_ns
    again = screen(model_dir, [video], tmp_path / "run", ScreenConfig())
    assert done.stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(again.windows, w, check_dtype=False)


@pytest.mark.slow
def test_whole_frame_windows_match_the_training_preprocessing(small_cohort, tmp_path):
    # With --crop none and a 5-s hop, screening sees a segment as `prepare` does: same clip to a few grey levels
    # (the decoder's area filter is OpenCV's here, FFmpeg's there).
    clip = ClipConfig(frames=8, size=32)
    manifest = read_manifest(small_cohort / "manifest.csv")
    row = manifest.rows[manifest.rows["view"] == "close"].iloc[0]
    info = probe(row["path"])
    cfg = WindowConfig(hop=5.0, crop="none", min_visibility=0.0, dark_level=0.0)
    windows = list(windows_of(info.path, info, cfg, clip, None))
    ours = next(w.clip for w in windows if w.row["start"] == row["start"])
    frames = read_segment(info.path, row["start"], row["end"], size=decode_size(info.width, info.height, clip))
    reference = make_clips(frames, clip)
    assert ours.shape == reference.shape
    assert np.abs(ours.astype(int) - reference.astype(int)).mean() < 3.0


@pytest.mark.parametrize(("model_flips", "views", "flips"), [(False, "model", False), (True, "model", True), (True, "one", False), (False, "flips", True)])
def test_screening_scores_windows_as_the_model_was_set_to_score(small_cohort, model_flips, views, flips):
    # A model's test_flips setting travels with it: screening scores each window's clip as cv and evaluate would,
    # unless --views asks otherwise.
    torch.manual_seed(0)
    model = Hiera(TINY).eval()
    with torch.no_grad():
        model.head.projection.weight.mul_(300)  # spread the random model's scores beyond windows.csv's 6 decimals
    run = RunConfig("cpu", TINY, ClipConfig(frames=8, size=32), TrainConfig(test_flips=model_flips))
    info = probe(read_manifest(small_cohort / "manifest.csv").rows["path"].iloc[0])
    cfg = ScreenConfig(WindowConfig(hop=5.0, crop="none", min_visibility=0.0, dark_level=0.0), views=views)
    rows = screen_video(model, run, info, cfg)
    clips = [w.clip for w in windows_of(info.path, info, cfg.windows, run.clip, None) if w.clip is not None]
    expected = [float(score_clips(model, c, flips).mean()) for c in clips]
    scored = rows["score"].dropna().to_numpy()
    assert len(scored) == len(expected) >= 2
    np.testing.assert_allclose(scored, expected, atol=2e-6)  # windows.csv rounds scores to 6 decimals
    other = [float(score_clips(model, c, not flips).mean()) for c in clips]
    assert np.abs(scored - other).max() > 1e-3


@pytest.mark.parametrize("n", [1, 2, 3, 5, 48, 49, 50])
def test_upper_quartile_is_numpys_percentile_bit_for_bit(n):
    rng = np.random.default_rng(n)
    for x in (rng.random((n, 18, 32), dtype=np.float32) * 40, np.round(rng.random((n, 7, 9)) * 3), rng.integers(0, 255, (n, 5, 6)).astype(np.float32)):
        expected = np.percentile(x, 75, axis=0)
        for got in (upper_quartile(x), upper_quartile(x, scratch=np.empty_like(x))):
            assert got.dtype == expected.dtype and np.array_equal(got, expected)


def test_in_background_yields_everything_raises_the_workers_error_and_stops_when_closed():
    import threading

    from spasmscope.data.windows import in_background
    from spasmscope.errors import VideoError

    assert list(in_background(iter(range(100)), depth=4)) == list(range(100))

    def breaks():
        yield from range(3)
        raise VideoError("x.mp4", "video cannot be decoded", "re-export the file")

    got = []
    with pytest.raises(VideoError, match="x.mp4"):
        for v in in_background(breaks(), depth=2):
            got.append(v)
    assert got == [0, 1, 2]

    before = threading.active_count()
    endless = in_background(iter(lambda: 1, None), depth=2)
    assert next(endless) == 1 and threading.active_count() == before + 1
    endless.close()
    assert threading.active_count() == before

    # Closing it lets go of a source generator, whose clean-up then runs (screening's nested decoding thread stops).
    cleaned = []

    def source():
        try:
            while True:
                yield 1
        finally:
            cleaned.append(True)

    nested = in_background(source(), depth=2)
    assert next(nested) == 1
    nested.close()
    assert cleaned == [True]


def test_crop_clip_cuts_the_box(tmp_path):
    frames = np.zeros((30, 100, 200, 3), np.uint8)
    frames[:, 20:60, 120:160] = 200  # a bright square, the "infant"
    clip = crop_clip(frames, (120, 20, 40, 40), ClipConfig(frames=4, size=16))
    assert clip.shape == (1, 4, 16, 16, 3) and clip.min() == 200


@pytest.mark.parametrize("clip", [ClipConfig(frames=16, size=32), ClipConfig(frames=8, size=32, temporal="clips", clips=3, clip_stride=4)])
def test_crop_clip_resizes_only_the_frames_it_reads_and_equals_resizing_all(clip):
    import cv2

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (150, 120, 160, 3), dtype=np.uint8)
    part = frames[:, 10:110, 30:130]
    dw, dh = decode_size(100, 100, clip)
    every = make_clips(np.stack([cv2.resize(f, (dw, dh), interpolation=cv2.INTER_AREA) for f in part]), clip)
    assert np.array_equal(crop_clip(frames, (30, 10, 100, 100), clip), every)


def test_windows_stop_where_the_picture_does_though_the_audio_runs_on(tmp_path, model_dir):
    # Video for 6 s, audio for 12 s: the container lasts 12 s, the picture stops at 6 s, and so do the windows.
    import av

    path = tmp_path / "short_picture.mp4"
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=30)
        v.width, v.height, v.pix_fmt = 96, 64, "yuv420p"
        a = c.add_stream("aac", rate=16000)
        for k in range(180):
            frame = av.VideoFrame.from_ndarray(np.full((64, 96, 3), (k * 2) % 256, np.uint8), format="rgb24")
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        samples = np.zeros((1, 1024), np.float32)
        for i in range(int(12 * 16000 / 1024)):
            af = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            af.sample_rate, af.pts = 16000, i * 1024
            for p in a.encode(af):
                c.mux(p)
        for p in a.encode(None):
            c.mux(p)
    info = probe(path)
    assert info.duration == pytest.approx(6.0) and info.file_duration == pytest.approx(12.0, abs=0.1) and info.frame_count == 180
    cfg = WindowConfig(min_visibility=0.0, dark_level=0.0, light_change=1.0)  # a grey ramp that wraps from white to black
    rows = [w.row for w in windows_of(info.path, info, cfg, ClipConfig(frames=8, size=32), None)]
    assert max(r["end"] for r in rows) == pytest.approx(6.0) and all(r["valid"] == 1 for r in rows)


# --- the ONNX detector -------------------------------------------------------------------------------


def _yolo_v8_graph(path: Path, boxes: np.ndarray, size: int = 64) -> Path:
    """An ONNX graph with YOLOv8's interface: images [1, 3, size, size] -> [1, 4 + 2 classes, N]. Its output is
    the given table plus 0 x the image mean, so it runs the input through the graph like a real detector."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    table = np.asarray(boxes, np.float32)[None]  # [1, 6, N]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["table", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(table.shape))],
        initializer=[numpy_helper.from_array(table, "table"), numpy_helper.from_array(np.zeros((), np.float32), "zero")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_decode_yolo_layouts_nms_and_classes():
    # v8: [4 + C, N], one column per box. Boxes 0 and 1 overlap (NMS keeps the better); box 2 is another class;
    # box 3 is too weak; box 4 is a second person.
    boxes = [  # cx, cy, w, h, person, other
        (30, 32, 10, 50, 0.9, 0.0),
        (30, 30, 10, 50, 0.6, 0.0),
        (80, 20, 8, 8, 0.0, 0.95),
        (50, 50, 8, 8, 0.1, 0.0),
        (100, 40, 6, 6, 0.5, 0.0),
    ]
    v8 = np.zeros((6, 64), np.float32)  # more boxes than rows, the rest empty
    v8[:, : len(boxes)] = np.array(boxes, np.float32).T
    people = decode_yolo(v8[None], conf=0.25)
    assert [round(p.score, 3) for p in people] == [0.9, 0.5] and {p.cls for p in people} == {0}
    assert people[0].box == pytest.approx((25.0, 7.0, 10.0, 50.0))  # cx - w/2, cy - h/2, w, h
    assert [round(p.score, 3) for p in decode_yolo(v8[None], conf=0.25, classes=(1,))] == [0.95]
    # v5: [N, 5 + C] with objectness multiplying the class score.
    v5 = np.zeros((70, 7), np.float32)
    v5[0] = [40, 40, 20, 20, 0.5, 0.9, 0.1]
    v5[1] = [10, 10, 4, 4, 0.9, 0.2, 0.0]  # 0.18: below the threshold
    found = decode_yolo(v5[None], conf=0.25)
    assert len(found) == 1 and found[0].score == pytest.approx(0.45) and found[0].box == pytest.approx((30, 30, 20, 20))
    with pytest.raises(ValueError, match="YOLO output"):
        decode_yolo(np.zeros((2, 3, 4, 5)))


def test_letterbox_keeps_the_aspect_ratio():
    image, scale, (px, py) = letterbox(np.zeros((50, 100, 3), np.uint8), 64)
    assert image.shape == (64, 64, 3) and scale == pytest.approx(0.64) and (px, py) == (0, 16)
    assert image[0, 0, 0] == 114 and image[32, 32, 0] == 0


def test_onnx_detector_maps_boxes_back_to_the_frame(tmp_path):
    pytest.importorskip("onnxruntime")
    table = np.zeros((6, 20), np.float32)
    table[:, 0] = [32, 40, 16, 16, 0.8, 0.0]  # a person box centred at (32, 40) of the 64 x 64 letterboxed input
    path = _yolo_v8_graph(tmp_path / "tiny.onnx", table)
    det = OnnxDetector(path)
    frame = np.zeros((100, 200, 3), np.uint8)  # letterboxed: scale 0.32, padding 16 rows at the top
    (d,) = det.detect(frame)
    assert d.score == pytest.approx(0.8)
    assert d.box == pytest.approx((75.0, 50.0, 50.0, 50.0), abs=0.01)  # ((32-8)/0.32, (40-8-16)/0.32, 16/0.32, 16/0.32)
    found = det.update(np.stack([frame] * 5), 30.0)
    assert found.visibility == pytest.approx(0.8) and found.box == (75, 50, 50, 50)
    x, y, w, h = found.crop
    assert x <= 75 and y <= 50 and x + w >= 125 and y + h >= 100
    bad = tmp_path / "bad.onnx"
    bad.write_text("not onnx")
    with pytest.raises(Exception, match="bad.onnx: is not a loadable ONNX model"):
        OnnxDetector(bad)


@pytest.mark.slow
def test_screen_with_the_onnx_detector_through_the_cli(tmp_path, model_dir, long_cohort):
    table = np.zeros((6, 20), np.float32)
    table[:, 0] = [32, 32, 12, 12, 0.9, 0.0]
    path = _yolo_v8_graph(tmp_path / "tiny.onnx", table)
    video = long_cohort / "videos" / "es000_v0.mp4"
    r = run_cli("screen", str(model_dir), str(video), "--out", str(tmp_path / "run"), "--detector", str(path), "--hop", "5")
    assert r.returncode == 0, r.stderr
    w = pd.read_csv(tmp_path / "run" / "windows.csv")
    assert (w["visibility"] == 0.9).all() and (w["valid"] == 1).all()


# --- the command line --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("screen_cli")
    make_video(d / "good.mp4", 30 * 8, width=160, height=96)
    write_bad_videos(d, d / "good.mp4")
    return d


@pytest.mark.parametrize(("name", "words"), BAD_VIDEOS)
def test_screen_of_one_bad_file_is_one_line(files, model_dir, tmp_path, name, words):
    one_line_error(run_cli("screen", str(model_dir), str(files / name), "--out", str(tmp_path / "run")), *words)


def test_screen_reports_an_unreadable_file_before_torch_loads(files, model_dir, tmp_path):
    args = ["screen", str(model_dir), str(files / "text.mp4"), "--out", str(tmp_path / "run")]
    (run,) = cli_runs([args], modules=("torch", "scipy.stats", "matplotlib"))
    assert (run.code, run.loaded) == (2, set()), run.stderr
    assert "text.mp4" in run.stderr and "not a readable video" in run.stderr and not (tmp_path / "run").exists()


def test_screen_batch_skips_bad_files_and_screens_the_rest(files, model_dir, tmp_path):
    bad = [name for name, _ in BAD_VIDEOS]
    r = run_cli("screen", str(model_dir), str(files / "good.mp4"), *(str(files / b) for b in bad), "--out", str(tmp_path / "run"), "--crop", "none")
    assert r.returncode == 3, r.stderr
    skipped = [line for line in r.stderr.splitlines() if line.startswith("skipped:")]
    assert len(skipped) == len(bad) and all(any(b in line for line in skipped) for b in bad)
    w = pd.read_csv(tmp_path / "run" / "windows.csv")
    assert set(w["video"]) == {str(files / "good.mp4")} and len(w) == len(window_spans(8.0))
    assert (tmp_path / "run" / "report.html").exists() and (tmp_path / "run" / "timelines" / "good.png").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--hop", "0"], ["hop=0"]),
        (["--hop", "7"], ["hop=7"]),
        (["--crop", "left"], ["crop='left'", "x,y,w,h"]),
        (["--threshold", "1.5"], ["threshold=1.5"]),
        (["--views", "two"], ["views='two'", "model, one, flips"]),
    ],
)
def test_screen_refuses_bad_options_in_one_line(files, model_dir, tmp_path, args, words):
    r = run_cli("screen", str(model_dir), str(files / "good.mp4"), "--out", str(tmp_path / "run"), *args)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert all(w in r.stderr for w in words), r.stderr


def test_score_events_cli_writes_metrics_sweep_and_szcore_files(tmp_path):
    spans = window_spans(60.0)
    windows = pd.DataFrame({"video": "/data/rec.mp4", "start": spans[:, 0], "end": spans[:, 1], "valid": 1})
    windows["score"] = np.where(np.isin(windows["start"], [17.5, 20.0, 40.0]), 0.9, 0.1)
    windows.to_csv(tmp_path / "windows.csv", index=False)
    pd.DataFrame({"video": ["rec.mp4"], "onset": [20.0], "offset": [21.5]}).to_csv(tmp_path / "events.csv", index=False)
    r = run_cli("score-events", str(tmp_path / "windows.csv"), str(tmp_path / "events.csv"), "--out", str(tmp_path / "out"), "--target-fa-per-24h", "0")
    assert r.returncode == 0, r.stderr
    import json

    m = json.loads((tmp_path / "out" / "event_metrics.json").read_text())
    assert m["spasm"]["true_positive"] == 1 and m["spasm"]["false_positive"] == 1
    assert m["spasm"]["false_alarms_per_24h"] == pytest.approx(1 / (60 / 3600) * 24)
    assert m["chosen_threshold"] is None or m["chosen_threshold"] > 0.9
    tsv = pd.read_csv(tmp_path / "out" / "detections" / "rec_events.tsv", sep="\t")
    assert tsv["eventType"].tolist() == ["sz", "sz"]
    assert (tmp_path / "out" / "sweep.png").stat().st_size > 1000
    bad = tmp_path / "bad_events.csv"
    bad.write_text("video,onset,offset\nrec.mp4,5,4\n")
    r = run_cli("score-events", str(tmp_path / "windows.csv"), str(bad), "--out", str(tmp_path / "out2"))
    assert r.returncode == 2 and "line 2" in r.stderr and "offset is not after onset (5 -> 4)" in r.stderr


def test_score_events_says_how_the_windows_holding_each_movement_score(tmp_path):
    spans = window_spans(30.0)  # 5-s windows every 2.5 s
    windows = pd.DataFrame({"video": "/data/rec.mp4", "start": spans[:, 0], "end": spans[:, 1], "valid": 1})
    high = {0.0: 0.8, 2.5: 0.7, 10.0: 0.95, 12.5: 0.4, 20.0: 0.3}
    windows["score"] = [high.get(s, 0.1) for s in windows["start"]]
    windows.loc[windows["start"] == 25.0, "valid"] = 0  # not scored: counts nowhere
    windows.to_csv(tmp_path / "windows.csv", index=False)
    pd.DataFrame({"video": ["rec.mp4"], "onset": [1.0], "offset": [3.0]}).to_csv(tmp_path / "events.csv", index=False)
    # A turn in the windows from 7.5 and 10 (and the one from 12.5: it starts before 13), a kick in those from 17.5
    # and 20, one more turn inside the window not scored.
    pd.DataFrame({"video": ["rec.mp4"] * 3, "kind": ["turn", "kick", "turn"], "onset": [12.0, 21.0, 29.0], "offset": [13.0, 22.0, 29.5]}).to_csv(tmp_path / "movements.csv", index=False)
    r = run_cli("score-events", str(tmp_path / "windows.csv"), str(tmp_path / "events.csv"), "--out", str(tmp_path / "out"), "--threshold", "0.9", "--movements", str(tmp_path / "movements.csv"))
    assert r.returncode == 0, r.stderr
    import json

    from sklearn.metrics import roc_auc_score

    m = json.loads((tmp_path / "out" / "event_metrics.json").read_text())["by_movement"]
    assert m["n_spasm"] == 2 and m["threshold"] == 0.9  # the windows from 0 and 2.5 overlap the spasm
    turn, kick, none = (m["by_kind"][k] for k in ("turn", "kick", "none"))
    assert (turn["n"], turn["at_threshold"]) == (3, 1) and (kick["n"], kick["at_threshold"]) == (2, 0)
    assert turn["auc"] == pytest.approx(roc_auc_score([1, 1, 0, 0, 0], [0.8, 0.7, 0.1, 0.95, 0.4]))
    assert kick["auc"] == 1.0 and none["n"] == len(windows) - 2 - 3 - 2 - 1
    assert "turn 1/3" in r.stdout and "kick 0/2" in r.stdout
    (tmp_path / "bad.csv").write_text("video,kind,onset,offset\nrec.mp4,,1,2\n")
    r = run_cli("score-events", str(tmp_path / "windows.csv"), str(tmp_path / "events.csv"), "--out", str(tmp_path / "out2"), "--movements", str(tmp_path / "bad.csv"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "bad.csv" in r.stderr and "line 2" in r.stderr and "no kind" in r.stderr


@pytest.mark.slow
def test_prepare_cuts_wide_views_around_the_infant(small_cohort, tmp_path):
    from spasmscope.data.cache import segment_clips
    from spasmscope.data.localise import MotionLocaliser

    clip = ClipConfig(frames=8, size=32, crop_infant=True)
    manifest = read_manifest(small_cohort / "manifest.csv")
    prepare(manifest, tmp_path / "cache", clip, workers=1)
    cache = SegmentCache(tmp_path / "cache", clip)
    pos = pd.read_csv(small_cohort / "positions.csv")
    wide = manifest.rows[manifest.rows["view"] == "wide"]
    assert len(wide) >= 2
    for r in wide.itertuples():
        info = probe(r.path)
        size = working_size(info.width, info.height, clip)
        cached = load_clips(cache, r.path, r.start, r.end)
        assert np.array_equal(cached, segment_clips(r.path, r.start, r.end, size, clip))
        # The crop it used holds the infant, and is a small part of the wide frame.
        frames = read_segment(r.path, r.start, r.end, size=size)
        x, y, w, h = MotionLocaliser().update(frames, 30.0).crop
        sx = info.width / size[0]
        p = pos[(pos["video"] == r.video) & (pos["time"] >= r.start) & (pos["time"] < r.end)]
        cx, cy = (p["x"] + p["w"] / 2) / sx, (p["y"] + p["h"] / 2) / sx
        assert ((cx >= x) & (cx <= x + w) & (cy >= y) & (cy <= y + h)).mean() >= 0.9
        assert w * h < 0.3 * size[0] * size[1]


def test_windows_read_only_the_frames_they_use_and_equal_a_dense_read(tmp_path):
    # windows_of decodes only the frames the localiser, the clip and the characteristics look at; rows and
    # clips must be exactly those of reading every frame of every window.
    from spasmscope.data.characteristics import visual
    from spasmscope.data.localise import MotionLocaliser
    from spasmscope.data.video import segment_times
    from spasmscope.data.windows import CHARACTERISTIC_PAIRS, stand_ins
    from spasmscope.synth import SynthConfig, generate

    generate(SynthConfig(children=1, healthy=0, seed=2, long_minutes=0.4, segments_per_video=(1, 1), videos_per_child=(1, 1)), tmp_path)
    info = probe(next((tmp_path / "long").glob("*.mp4")))
    clip = ClipConfig(frames=8, size=32)
    cfg = WindowConfig(hop=2.5, min_visibility=0.0)
    assert len(np.unique(stand_ins(150, clip, MotionLocaliser()))) < 0.7 * 150
    windows = list(windows_of(info.path, info, cfg, clip, MotionLocaliser()))
    assert len(windows) == len(window_spans(info.duration, 5.0, 2.5))

    size = working_size(info.width, info.height, clip)
    dense = MotionLocaliser()
    for w in windows:
        frames = read_frames(info.path, segment_times(w.row["start"], w.row["end"]), size=size)
        found = dense.update(frames, 30.0)
        pairs = np.linspace(0, len(frames) - 2, CHARACTERISTIC_PAIRS).astype(int)
        v = visual(frames[pairs], frames[pairs + 1])
        assert w.row["visibility"] == round(found.visibility, 4)
        assert w.row["brightness"] == round(v.brightness, 3) and w.row["sharpness"] == round(v.sharpness, 3)
        assert w.clip is not None and np.array_equal(w.clip, crop_clip(frames, found.crop, clip))


def test_chunks_partition_every_recordings_windows_in_order():
    from spasmscope.data.segments import window_spans
    from spasmscope.data.video import VideoInfo
    from spasmscope.screening.on_ray import chunks

    def info(duration: float) -> VideoInfo:
        return VideoInfo(path="x", codec="h264", width=640, height=360, rotation=0, fps=30.0, duration=duration, bitrate=0, frame_count=int(duration * 30))

    infos = {"a.mp4": info(601.0), "b.mp4": info(3.0), "c.mp4": info(300.0)}
    found = chunks(infos, 2.5, 5.0)
    for path, i in infos.items():
        mine = [c for c in found if c.path == path]
        n = len(window_spans(i.duration, 5.0, 2.5))
        covered = [k for c in mine for k in range(c.first, c.stop)]
        assert covered == list(range(n)), path  # every window once, in order
        assert all(c.stop - c.first <= 120 for c in mine)  # 5 minutes of starts at a 2.5-s hop
    assert [c.path for c in found] == sorted([c.path for c in found], key=list(infos).index)
