"""The formats phones, browsers and video-EEG systems write, and damaged files: every one is probed as FFmpeg reads
it, its frames come back in order, and screening covers its picture and nothing past it (METHOD §2)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import read_index
from media import Case, ffmpeg_read, write

from spasmscope.data.preprocess import ClipConfig
from spasmscope.data.video import DecodeStats, picture_note, probe, read_segment
from spasmscope.data.windows import WindowConfig
from spasmscope.model.architecture import HieraConfig
from spasmscope.model.config import RunConfig, TrainConfig
from spasmscope.model.hiera import Hiera
from spasmscope.model.weights import save_model

VFR = tuple(float(t) for t in np.cumsum([0] + [0.033 if k % 3 else 0.066 for k in range(1, 75)]))
X265 = {"x265-params": "log-level=error"}
CASES = {
    "h264 mp4 (B-frames, edit list)": Case("h264.mp4", "libx264"),
    "h264 mov, audio longer than the picture": Case("audio.mov", "libx264", audio_s=4.0),
    "iphone: hevc 10-bit mov, rotated, variable rate": Case("iphone.mov", "libx265", n=75, pix_fmt="yuv420p10le", options=X265, rotation=90, times=VFR),
    "vp9 webm": Case("browser.webm", "libvpx-vp9"),
    "av1 mkv": Case("download.mkv", "libsvtav1"),
    "mpeg-4 part 2 avi, B-frames (first packet after the first frame)": Case("eeg.avi", "mpeg4", context={"max_b_frames": 2}),
    "raw h264 stream, no timestamps at all": Case("raw.h264", "libx264", container="h264"),
    "mjpeg avi": Case("eeg-mjpeg.avi", "mjpeg", pix_fmt="yuvj420p"),
    "wmv asf": Case("export.wmv", "wmv2", container="asf"),
    "mpeg-2 interlaced, 4:3 pal": Case("camcorder.mpg", "mpeg2video", n=50, width=720, height=576, fps=Fraction(25), container="mpeg",
                                       options={"flags": "+ilme+ildct"}, sample_aspect=Fraction(16, 15)),  # fmt: skip
    "854x480": Case("fwvga.mp4", "libx264", width=854, height=480),
    "1079 lines": Case("odd.mkv", "libx264", width=192, height=1079, pix_fmt="yuv444p"),
    "non-square pixels": Case("anamorphic.mkv", "libx264", sample_aspect=Fraction(4, 3)),
    "first timestamp hours from 0": Case("late.mkv", "libx264", first_pts=3 * 3600 * 30),
    "a single frame": Case("single.mp4", "libx264", n=1),
    "matroska named .mp4": Case("lying.mp4", "libx264", container="matroska"),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("formats")
    return {name: write(case, folder) for name, case in CASES.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_probe_agrees_with_ffmpeg(files, name):
    info, ref = probe(files[name]), ffmpeg_read(files[name])
    assert (info.width, info.height) == (ref.width, ref.height)
    # A stream without timestamps: FFmpeg's stream line guesses 25 fps, its decoder times frames at the codec's own rate.
    assert info.fps == pytest.approx(ref.frames / ref.duration if "no timestamps" in name else ref.fps, rel=0.01)
    assert abs(info.duration - ref.duration) <= ref.frame_s
    assert info.frame_count == ref.frames
    assert info.interlaced == (name == "mpeg-2 interlaced, 4:3 pal")


def _shown(case: Case, times: np.ndarray) -> list[int]:
    """The index of the source frame shown at each time: the last one at or before it."""
    starts = np.array(case.times) if case.times is not None else np.arange(case.n) / float(case.fps)
    return [int(np.searchsorted(starts, t + 1e-4, side="right") - 1) for t in times]


@pytest.mark.parametrize("name", list(CASES))
def test_frames_come_back_in_order(files, name):
    case, info = CASES[name], probe(files[name])
    end = min(info.duration, 2.0)
    clip = read_segment(files[name], 0.0, end)
    assert clip.shape[1:3] == (info.height, info.width)
    assert [read_index(f) for f in clip] == _shown(case, np.arange(len(clip)) / 30.0)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    run = RunConfig("cpu", HieraConfig(input_size=(8, 32, 32), embed_dim=16, num_heads=1, stages=(1, 1, 1, 1)), ClipConfig(frames=8, size=32), TrainConfig())
    folder = tmp_path_factory.mktemp("model")
    save_model(folder, Hiera(run.model), run, {})
    return folder


@pytest.mark.slow
def test_screening_covers_the_picture_and_nothing_past_it(files, model_dir, tmp_path):
    from spasmscope.screening.screen import ScreenConfig, screen

    cfg = ScreenConfig(WindowConfig(crop="none", min_visibility=0.0, dark_level=0.0, light_change=1.0))
    result = screen(model_dir, [str(p) for p in files.values()], tmp_path / "run", cfg)
    assert not result.skipped
    for name, path in files.items():
        info, w = probe(path), result.windows[result.windows["video"] == str(path)]
        assert w["end"].max() == pytest.approx(info.duration, abs=1e-3) and (w["start"] < info.duration).all(), name
        assert (w["valid"] == 1).all() and w["score"].notna().all(), name
    notes = dict(result.notes)
    assert set(notes) == {str(files["h264 mov, audio longer than the picture"])}
    assert "the picture ends at 2.0 s but the file runs 4.0 s" in notes[str(files["h264 mov, audio longer than the picture"])]


def test_damaged_packets_lose_their_frames_and_decoding_goes_on(tmp_path):
    import av

    path = write(Case("damaged.avi", "mjpeg", n=300, pix_fmt="yuvj420p"), tmp_path)
    with av.open(str(path)) as c:
        packets = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size]
    data = bytearray(path.read_bytes())
    for pos, size in packets[120:126]:  # frames 4.0-4.2 s: their pictures zeroed inside the file
        data[pos + 20 : pos + size - 2] = bytes(size - 22)
    path.write_bytes(bytes(data))
    stats = DecodeStats()
    clip = read_segment(path, 3.5, 5.0, stats=stats)
    assert stats.damaged == 6 and stats.gaps == [pytest.approx((4.0, 4.2))]
    shown = [read_index(f) for f in clip]
    assert shown == [min(k, 119) if k < 126 else k for k in range(105, 150)]  # the last good frame stands in


@pytest.mark.slow
def test_screening_a_damaged_file_marks_the_windows_that_lost_frames(tmp_path, model_dir):
    import av

    from spasmscope.screening.screen import ScreenConfig, screen

    path = write(Case("damaged.avi", "mjpeg", n=600, pix_fmt="yuvj420p"), tmp_path)
    with av.open(str(path)) as c:
        packets = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size]
    data = bytearray(path.read_bytes())
    for pos, size in packets[300:306]:  # 10.0-10.2 s
        data[pos + 20 : pos + size - 2] = bytes(size - 22)
    path.write_bytes(bytes(data))
    cfg = ScreenConfig(WindowConfig(crop="none", min_visibility=0.0, dark_level=0.0, light_change=1.0))
    w = screen(model_dir, [str(path)], tmp_path / "run", cfg).windows
    hit = (w["start"] < 10.2) & (w["end"] > 10.0)
    assert w.loc[hit, "reason"].str.startswith("unreadable: frames lost from 10.0 to 10.2 s").all() and hit.sum() == 2
    assert (w.loc[~hit, "valid"] == 1).all() and w["end"].max() == pytest.approx(20.0)


def test_a_file_cut_short_is_read_to_its_end_and_says_so(tmp_path):
    path = write(Case("growing.mkv", "libx264", n=150), tmp_path)
    data = path.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 6 // 10])  # as a recorder leaves it mid-recording
    info = probe(cut)
    # The last frames' packets, reordered (B-frames), may lie past the cut: a frame or two inside the span is missing.
    assert 1.0 < info.duration < 4.0 and round(info.duration * 30) - 3 <= info.frame_count <= round(info.duration * 30)
    assert info.claimed_duration == pytest.approx(5.0) and picture_note(info).startswith("the header claims 5.0 s but the file holds")
    shown = [read_index(f) for f in read_segment(cut, 0.0, info.duration)]
    assert shown[: len(shown) - 4] == list(range(len(shown) - 4)) and shown == sorted(shown)


def test_a_segment_past_the_picture_is_refused_though_the_audio_runs_on(files, tmp_path):
    from spasmscope.data.batch import Skipped, probe_manifest
    from spasmscope.data.manifest import read_manifest
    from spasmscope.errors import InputError

    video = files["h264 mov, audio longer than the picture"]  # 2 s of picture, 4 s of audio
    (tmp_path / "m.csv").write_text(f"video,child,start,end,label\n{video},a,0,2,0\n{video},a,2.5,3.5,0\n")
    with pytest.raises(InputError, match=r"segment 2.5-3.5 s is past the end of .*audio.mov \(2.00 s long\)"):
        probe_manifest(read_manifest(tmp_path / "m.csv"), False, Skipped())


def test_probe_says_which_files_have_no_picture_at_their_end(files, tmp_path):
    from conftest import run_cli

    garbage = tmp_path / "notes.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    listed = [str(files["h264 mov, audio longer than the picture"]), str(files["mpeg-2 interlaced, 4:3 pal"]), str(garbage)]
    r = run_cli("probe", *listed, "--out", str(tmp_path / "probe.csv"))
    assert r.returncode == 3 and "Traceback" not in r.stderr  # something skipped, the rest measured
    lines = r.stderr.strip().splitlines()
    assert any(x.startswith(f"note: {listed[0]}: the picture ends at 2.0 s but the file runs 4.0 s") for x in lines)
    assert any(x.startswith(f"skipped: {garbage}: not a readable video") for x in lines)
    import pandas as pd

    videos = pd.read_csv(tmp_path / "probe.csv").query("level == 'video'").set_index("path")
    assert videos.loc[listed[1], "interlaced"] == 1 and (videos.loc[listed[1], "width"], videos.loc[listed[1], "height"]) == (768, 576)


@pytest.mark.parametrize("name", ["vp9 webm", "av1 mkv", "mjpeg avi", "mpeg-4 part 2 avi, B-frames (first packet after the first frame)", "first timestamp hours from 0", "wmv asf"])
def test_a_large_file_is_probed_from_its_ends(files, name, monkeypatch):
    import spasmscope.data.video as video

    monkeypatch.setattr(video, "FULL_SCAN_BYTES", 0)  # every file counts as large: only its first and last packets are read
    info, ref = probe(files[name]), ffmpeg_read(files[name])
    assert abs(info.duration - ref.duration) <= ref.frame_s and abs(info.frame_count - ref.frames) <= 1


def test_windows_after_the_last_frame_that_decodes_are_unreadable(tmp_path):
    import av

    from spasmscope.data.windows import windows_of

    path = write(Case("tail.avi", "mjpeg", n=300, pix_fmt="yuvj420p"), tmp_path)  # 10 s
    with av.open(str(path)) as c:
        packets = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size]
    data = bytearray(path.read_bytes())
    for pos, size in packets[210:]:  # nothing after 7 s decodes
        data[pos + 20 : pos + size - 2] = bytes(size - 22)
    path.write_bytes(bytes(data))
    info = probe(path)
    rows = [w.row for w in windows_of(info.path, info, WindowConfig(min_visibility=0.0, dark_level=0.0, light_change=1.0), ClipConfig(frames=8, size=32), None)]
    late = [r for r in rows if r["end"] > 8.0]
    assert late and all(r["valid"] == 0 and r["reason"] == "unreadable: the file ends at 7.0 s" for r in late)
    assert all(r["valid"] == 1 for r in rows if r["end"] <= 8.0)
