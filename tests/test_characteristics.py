"""Video characteristics (METHOD §7) and Table 1."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from spasmscope.data.characteristics import (
    NIGHT_THRESHOLD,
    brightness,
    cohort_table,
    format_table1,
    light_change,
    motion,
    night_statistic,
    pair_times,
    sharpness,
    span_visual,
)
from spasmscope.data.segments import consecutive_spans
from spasmscope.data.writer import VideoWriter


def test_statistics_against_direct_computation():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (4, 40, 60, 3), dtype=np.uint8)
    grey = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]).astype(float)
    assert brightness(frames) == pytest.approx(grey.mean(), rel=1e-6)
    assert night_statistic(frames) == pytest.approx(frames.astype(float).var(axis=-1).mean(), rel=1e-12)  # exact in integers
    strided = frames[::2, ::3, 1::2]  # a view, as frame pairs are
    assert night_statistic(strided) == pytest.approx(strided.astype(float).var(axis=-1).mean(), rel=1e-12)
    assert motion(frames[:2], frames[2:]) == pytest.approx(np.abs(grey[2:] - grey[:2]).mean(), rel=1e-6)
    lap = [cv2.Laplacian(g.astype(np.uint8), cv2.CV_64F).var() for g in grey]
    assert sharpness(frames) == pytest.approx(np.mean(lap), rel=1e-9)


def test_invariants():
    flat = np.full((2, 30, 30, 3), 77, np.uint8)
    assert brightness(flat) == pytest.approx(77, abs=0.5)
    assert night_statistic(flat) == 0 and sharpness(flat) == 0 and motion(flat, flat) == 0
    edges = np.zeros((1, 30, 30, 3), np.uint8)
    edges[:, :, ::2] = 255
    blurred = cv2.GaussianBlur(edges[0], (0, 0), 2)[None]
    assert sharpness(edges) > 10 * sharpness(blurred)


def _write(path, frames, fps=30):
    with VideoWriter(path, frames.shape[2], frames.shape[1], fps=fps, crf=18) as w:
        for f in frames:
            w.write(f)
    return path


def test_night_flag_on_real_files(tmp_path):
    rng = np.random.default_rng(1)
    grey = np.repeat(rng.integers(20, 90, (60, 64, 96, 1), dtype=np.uint8), 3, axis=3)
    colour = np.zeros((60, 64, 96, 3), np.uint8)
    colour[..., 0], colour[..., 1], colour[..., 2] = 200, 120, 60
    night = span_visual(_write(tmp_path / "ir.mp4", grey), 0, 2, 4)
    day = span_visual(_write(tmp_path / "day.mp4", colour), 0, 2, 4)
    assert night.night and night.night_stat < NIGHT_THRESHOLD / 4
    assert not day.night and day.night_stat > 10 * NIGHT_THRESHOLD


def test_motion_on_real_files(tmp_path):
    still = np.full((60, 64, 96, 3), 128, np.uint8)
    moving = still.copy()
    for k in range(60):
        moving[k, :, (k * 4) % 96 : (k * 4) % 96 + 8] = 250
    assert span_visual(_write(tmp_path / "still.mp4", still), 0, 2, 4).motion < 0.5
    assert span_visual(_write(tmp_path / "moving.mp4", moving), 0, 2, 4).motion > 5


def test_light_change_is_the_largest_jump_of_mean_grey_between_frames():
    rng = np.random.default_rng(3)
    room = rng.integers(60, 160, (1, 48, 64, 3), dtype=np.uint8)
    lit = np.repeat(room, 4, axis=0)
    means = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32).mean() for f in room]
    assert light_change(lit) == 0.0 and light_change(lit[:1]) == 0.0 and light_change(np.zeros((3, 8, 8, 3), np.uint8)) == 0.0
    switched = lit.copy()
    switched[2:] //= 5  # lights off between the second and third frame
    dark = cv2.cvtColor(switched[2], cv2.COLOR_RGB2GRAY).astype(np.float32).mean()
    assert light_change(switched) == pytest.approx((means[0] - dark) / means[0], abs=1e-6)
    assert light_change(switched[::-1]) == pytest.approx(light_change(switched))  # lights on: the same share
    # A limb moving across a close view changes the mean by a few percent, far below the screening gate's 0.3.
    moving = lit.copy()
    for k in range(4):
        moving[k, 10:30, 8 * k : 8 * k + 16] = 250
    assert 0 < light_change(moving) < 0.1


def test_pair_times_and_spans():
    t = pair_times(10.0, 15.0, 8)
    assert len(t) == 16 and np.all(np.diff(t) >= 0) and t[0] >= 10 and t[-1] < 15
    assert np.allclose(t[1::2] - t[0::2], 1 / 30)
    assert consecutive_spans(12.5) == [(0.0, 5.0), (5.0, 10.0), (10.0, 12.5)]
    assert consecutive_spans(10.4) == [(0.0, 5.0), (5.0, 10.0)]
    assert consecutive_spans(0.6) == [(0.0, 0.6)]


def test_cohort_table_medians_iqr_and_counts():
    rng = np.random.default_rng(2)
    videos, segments = [], []
    for i in range(9):
        cohort = "a" if i < 5 else "b"
        path = f"/v{i}.mp4"
        videos.append({"level": "video", "path": path, "width": 100 * (i + 1), "height": 50, "duration": 10.0 + i, "fps": 30.0, "bitrate": 1000 * i})
        for s in range(i % 3 + 1):
            segments.append(
                {"level": "segment", "path": path, "child": f"c{i // 2}" if cohort == "a" else f"d{i}", "cohort": cohort, "label": s % 2,
                 "brightness": rng.uniform(0, 255), "motion": rng.uniform(), "sharpness": rng.uniform(0, 500), "night": int(rng.uniform() < 0.3),
                 "views": str(1000 * i) if i != 3 else ""}  # fmt: skip
            )
    table = pd.DataFrame(videos + segments)
    long = cohort_table(table)
    seg = table[table.level == "segment"]
    for cohort, rows in seg.groupby("cohort"):
        got = long[(long.cohort == cohort)].set_index("variable")
        assert got.loc["children", "n"] == rows.child.nunique()
        assert got.loc["segments", "n"] == len(rows)
        assert got.loc["spasm segments", "n"] == (rows.label == 1).sum()
        per_child = rows.groupby("child").size()
        assert got.loc["segments per child", "median"] == per_child.median()
        assert got.loc["segments per child", "min"] == per_child.min()
        for col in ("brightness", "motion", "sharpness"):
            assert got.loc[col, "median"] == pytest.approx(np.median(rows[col]))
            assert got.loc[col, "q1"] == pytest.approx(np.percentile(rows[col], 25))
            assert got.loc[col, "q3"] == pytest.approx(np.percentile(rows[col], 75))
        vids = table[(table.level == "video") & table.path.isin(rows.path)]
        assert got.loc["width", "median"] == pytest.approx(np.median(vids.width))
        views = pd.to_numeric(rows.groupby("path")["views"].first().replace("", np.nan)).dropna()
        assert got.loc["views", "n"] == len(views) and got.loc["views", "median"] == pytest.approx(views.median())
    text = format_table1(long)
    assert list(text.columns) == ["a", "b"] and "children" in text.index and "[" in text.loc["brightness", "a"]
    night = seg[seg.cohort == "a"].night.mean()
    assert text.loc["night", "a"] == f"{100 * night:.0f}%"


def test_visibility_read_from_the_cache_is_the_one_found_by_localising_again(small_cohort, tmp_path):
    from dataclasses import replace

    from spasmscope.data.cache import SegmentCache, prepare
    from spasmscope.data.characteristics import characterise
    from spasmscope.data.manifest import read_manifest
    from spasmscope.data.preprocess import ClipConfig

    m = pd.read_csv(small_cohort / "manifest.csv")
    one = m[m.video == m.video.iloc[0]].assign(video=lambda d: [str(small_cohort / v) for v in d.video])
    one.to_csv(tmp_path / "one.csv", index=False)
    manifest = read_manifest(tmp_path / "one.csv")
    cut = ClipConfig(frames=8, size=32, crop_infant=True)
    prepare(manifest, tmp_path / "cache", cut, workers=1)
    localised = SegmentCache(tmp_path / "cache", cut).localised(manifest)
    assert len(localised) == len(manifest.rows) >= 2
    found, _ = characterise(manifest.videos, manifest=manifest, workers=1)
    reused, _ = characterise(manifest.videos, manifest=manifest, workers=1, localised=localised)
    pd.testing.assert_frame_equal(reused, found)  # the whole table, visibility included, as when every segment is localised again

    # A kept figure is what the row reports; one the localiser found at another size is found again.
    (first, kept), (second, other) = list(localised.items())[:2]
    planted = {first: replace(kept, visibility=0.123), second: replace(other, visibility=0.456, size=(64, 36))}
    rows = characterise(manifest.videos, manifest=manifest, workers=1, localised=planted)[0].set_index(["path", "start", "end"])["visibility"]
    assert rows[first] == 0.123 and rows[second] == round(other.visibility, 4) != 0.456
    # Nothing is kept for entries that were not cut around the infant.
    prepare(manifest, tmp_path / "whole", ClipConfig(frames=8, size=32), workers=1)
    assert SegmentCache(tmp_path / "whole", ClipConfig(frames=8, size=32)).localised(manifest) == {}
