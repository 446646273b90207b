"""Video input: probe against FFmpeg's own reading, timestamp resampling, rotation, seeking, errors."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from conftest import ffmpeg_decode, ffmpeg_reading, make_audio_only, make_video, read_index

from spasmscope.data.video import DecodeStats, probe, read_frames, read_segment
from spasmscope.errors import VideoError


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    # Irregular steps of 33 and 83 ms (whole milliseconds: the writer stores ms timestamps).
    vfr_times = list(np.cumsum([0] + [0.033 if k % 3 else 0.083 for k in range(1, 120)]))
    return {
        "rotated": make_video(d / "rotated.mp4", 90, width=96, height=160, rotation=90),
        "rotated270": make_video(d / "rotated270.mp4", 60, width=96, height=160, rotation=270),
        "vfr": make_video(d / "vfr.mp4", 120, times=vfr_times),
        "hevc": make_video(d / "hevc.mp4", 90, codec="libx265"),
        "fps15": make_video(d / "fps15.mp4", 90, fps=15),
        "short": make_video(d / "short.mp4", 75, fps=30),  # 2.5 s
        "ntsc": make_video(d / "ntsc.mp4", 180, fps=Fraction(30000, 1001)),
        "fps60": make_video(d / "fps60.mp4", 360, fps=60),
        "vfr_times": vfr_times,
    }


@pytest.mark.parametrize("name", ["rotated", "rotated270", "vfr", "hevc", "fps15", "short", "ntsc", "fps60"])
def test_probe_agrees_with_ffmpeg(files, name):
    info, ref = probe(files[name]), ffmpeg_reading(files[name])
    assert (info.width, info.height) == (ref["width"], ref["height"])
    assert info.rotation == ref["rotation"]
    assert info.codec == ref["codec"]
    # FFmpeg prints the duration to 10 ms and the rate to 2 decimals (or fewer).
    assert abs(info.duration - ref["duration"]) <= 0.006
    assert abs(info.fps - ref["fps"]) <= 0.006 * max(1.0, info.fps / 10)


def test_probe_details(files):
    assert probe(files["rotated"]).rotation == 90 and (probe(files["rotated"]).width, probe(files["rotated"]).height) == (96, 160)
    assert probe(files["hevc"]).codec == "hevc"
    assert probe(files["vfr"]).variable_frame_rate and not probe(files["fps15"]).variable_frame_rate
    assert probe(files["fps15"]).frame_count == 90
    assert probe(files["short"]).duration == pytest.approx(2.5, abs=0.01)
    assert probe(files["ntsc"]).fps == pytest.approx(29.97, abs=0.01)


@pytest.mark.parametrize(("name", "fps"), [("fps15", 15), ("ntsc", 30000 / 1001), ("fps60", 60), ("hevc", 30)])
def test_segment_is_resampled_to_30fps_by_timestamp(files, name, fps):
    start, end = 0.7, 2.7
    clip = read_segment(files[name], start, end)
    assert clip.shape[0] == 60 and clip.dtype == np.uint8
    got = [read_index(f) for f in clip]
    # Nearest earlier source frame of each output instant start + k/30.
    want = [int(np.floor((start + k / 30) * fps + 1e-6)) for k in range(60)]
    assert got == want


def test_variable_frame_rate_by_timestamp(files):
    times = np.asarray(files["vfr_times"])
    clip = read_segment(files["vfr"], 1.0, 3.0)
    want = [int(np.searchsorted(times, 1.0 + k / 30 + 1e-6, side="right") - 1) for k in range(60)]
    assert [read_index(f) for f in clip] == want


@pytest.mark.parametrize("name", ["rotated", "rotated270"])
def test_rotation_matches_ffmpeg_upright_decode(files, name):
    info = probe(files[name])
    ours = read_segment(files[name], 0.0, 1.0)
    ref = ffmpeg_decode(files[name], info.width, info.height, 30)
    assert ours.shape == ref.shape == (30, 160, 96, 3)
    assert np.abs(ours.astype(int) - ref.astype(int)).mean() < 1.0
    assert [read_index(f) for f in ours] == list(range(30))


def test_segment_past_last_frame_holds_it_and_short_file_reads(files):
    clip = read_segment(files["short"], 0.0, 5.0)
    idx = [read_index(f) for f in clip]
    assert len(idx) == 150 and idx[:75] == list(range(75)) and set(idx[75:]) == {74}


def test_scaled_decode(files):
    clip = read_segment(files["rotated"], 0.0, 0.5, size=(48, 80))
    assert clip.shape == (15, 80, 48, 3)
    assert [read_index(f) for f in clip] == list(range(15))


def test_seek_reads_the_middle_of_a_long_file_without_decoding_from_the_start(tmp_path):
    long = make_video(tmp_path / "long.mp4", 30 * 240, width=64, height=48, gop=60)  # 4 min, keyframe every 2 s
    stats = DecodeStats()
    clip = read_segment(long, 120.0, 125.0, stats=stats)
    assert [read_index(f) for f in clip] == [(3600 + k) % 256 for k in range(150)]
    assert stats.decoded <= 150 + 60 + 5  # the segment plus at most one keyframe interval
    # Sparse instants far apart each seek instead of decoding the gaps.
    stats = DecodeStats()
    frames = read_frames(long, [10.0, 100.0, 200.0], stats=stats)
    assert [read_index(f) for f in frames] == [300 % 256, 3000 % 256, 6000 % 256]
    assert stats.seeks == 3 and stats.decoded <= 3 * 62


def _truncated(src, dst):
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


@pytest.mark.parametrize("kind", ["missing", "empty", "truncated", "text", "audio", "folder"])
def test_bad_files_raise_one_line_errors_naming_the_file(files, tmp_path, kind):
    path = {
        "missing": tmp_path / "nope.mp4",
        "empty": tmp_path / "empty.mp4",
        "truncated": tmp_path / "cut.mp4",
        "text": tmp_path / "notes.mp4",
        "audio": tmp_path / "voice.mp4",
        "folder": tmp_path,
    }[kind]
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        _truncated(files["fps15"], path)
    elif kind == "text":
        path.write_text("this is not a video\n" * 20)
    elif kind == "audio":
        make_audio_only(path)
    for call in (lambda: probe(path), lambda: read_segment(path, 0, 1)):
        with pytest.raises(VideoError) as err:
            call()
        message = str(err.value)
        assert str(path) in message and "\n" not in message
    expected = {"missing": "not found", "empty": "empty", "truncated": "truncated", "text": "not a readable video", "audio": "no video stream", "folder": "folder"}
    assert expected[kind] in str(err.value)


def test_sparse_reads_terminate_with_keyframes_further_apart_than_the_seek_step(tmp_path):
    # One keyframe for the whole file: every seek lands on frame 0.
    path = make_video(tmp_path / "one_gop.mp4", 30 * 20, width=64, height=48, gop=1000)
    frames = read_frames(path, [0.5, 6.0, 12.0, 18.0])
    assert [read_index(f) for f in frames] == [15, 180, 360 % 256, 540 % 256]
