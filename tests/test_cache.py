"""The segment cache: one decode per segment, content keys, atomic entries, resume after a kill."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from spasmscope.data.cache import SegmentCache, load_clips, prepare
from spasmscope.data.manifest import read_manifest
from spasmscope.data.preprocess import ClipConfig, decode_size, make_clips
from spasmscope.data.video import probe, read_segment

CFG = ClipConfig(frames=8, size=32)


def test_prepare_fills_cache_with_the_preprocessed_segments(small_cohort, tmp_path):
    m = read_manifest(small_cohort / "manifest.csv")
    result = prepare(m, tmp_path / "cache", CFG, workers=2)
    assert result.decoded == result.total == len(m.rows) and result.cached == 0 and not result.skipped
    cache = SegmentCache(tmp_path / "cache", CFG)
    for row in m.rows.sample(4, random_state=0).itertuples():
        clips = load_clips(cache, row.path, row.start, row.end)
        assert clips.shape == (1, 8, 32, 32, 3) and clips.dtype == np.uint8
        info = probe(row.path)
        direct = make_clips(read_segment(row.path, row.start, row.end, size=decode_size(info.width, info.height, CFG)), CFG)
        assert np.array_equal(clips, direct)
    again = prepare(m, tmp_path / "cache", CFG, workers=1)
    assert again.decoded == 0 and again.cached == len(m.rows)
    # Another clip configuration is another key.
    other = prepare(m, tmp_path / "cache", ClipConfig(frames=8, size=32, temporal="clips", clips=2), workers=2)
    assert other.decoded == len(m.rows)


def test_key_is_file_content_not_path(small_cohort, tmp_path):
    video = next((small_cohort / "videos").glob("*.mp4"))
    copy = tmp_path / "renamed.mp4"
    shutil.copy(video, copy)
    cache = SegmentCache(tmp_path / "cache", CFG)
    assert cache.key(cache.digest(video), 0, 5) == cache.key(cache.digest(copy), 0, 5)
    assert cache.key(cache.digest(video), 0, 5) != cache.key(cache.digest(video), 5, 10)
    with open(copy, "ab") as f:
        f.write(b"\0")
    os.utime(copy, ns=(1, 1))  # a new modification time invalidates the remembered digest
    assert cache.key(cache.digest(video), 0, 5) != cache.key(cache.digest(copy), 0, 5)
    assert cache.key(cache.digest(video), 0, 5) != SegmentCache(tmp_path / "cache", ClipConfig(frames=8, size=64)).key(cache.digest(video), 0, 5)


def test_killed_prepare_leaves_whole_entries_and_resumes(small_cohort, tmp_path):
    # Many segments so the kill lands mid-run: every segment of the cohort at several offsets.
    m = pd.read_csv(small_cohort / "manifest.csv")
    rows = [r._replace(start=r.start + d, end=r.end + d) for r in m.itertuples(index=False) for d in (0.0, 0.5, 1.0) if r.end + d <= r.end // 5 * 5 + 5 and r.end + d <= m[m.video == r.video].end.max()]
    big = pd.DataFrame(rows, columns=m.columns).drop_duplicates(["video", "start", "end"])
    manifest = small_cohort / "many.csv"
    big.to_csv(manifest, index=False)
    cache_dir = tmp_path / "cache"
    exe = Path(sys.executable).with_name("spasmscope")
    args = [str(exe), "prepare", str(manifest), "--cache", str(cache_dir), "--frames", "8", "--size", "64", "--workers", "2"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while len(_entries(cache_dir)) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the main process dies at once; its workers must not outlive it
    proc.wait()
    time.sleep(1.0)
    alive = _alive_children(proc.pid)
    assert not alive, subprocess.run(["ps", "-o", "pid,ppid,stat,etime,args", "-p", ",".join(map(str, alive))], capture_output=True, text=True).stdout
    done_before = _entries(cache_dir)
    assert 3 <= len(done_before) < len(big), "the kill should land mid-run"
    for p in done_before:
        assert np.load(p).shape == (1, 8, 64, 64, 3)  # no torn entry
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    summary = r.stdout.strip().splitlines()[-1]
    decoded = int(summary.split(": ")[1].split(" decoded")[0])
    cached = int(summary.split("decoded, ")[1].split(" already")[0])
    assert cached >= len(done_before) and decoded + cached == len(big)
    assert len(_entries(cache_dir)) == len(big)


def test_prepare_counts_the_segments_of_an_unreadable_video_as_left_out(small_cohort, tmp_path):
    m = pd.read_csv(small_cohort / "manifest.csv")
    good = m.video.iloc[0]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes((small_cohort / good).read_bytes()[:2000])  # a copy cut off in its header: nothing decodes
    ours = m[m.video == good].copy()
    ours["video"] = str(small_cohort / good)
    theirs = ours.assign(video=str(broken), child="broken")
    manifest = tmp_path / "m.csv"
    pd.concat([ours, theirs]).to_csv(manifest, index=False)
    exe = Path(sys.executable).with_name("spasmscope")
    r = subprocess.run([str(exe), "prepare", str(manifest), "--cache", str(tmp_path / "cache"), "--frames", "8", "--size", "32", "--workers", "1"], capture_output=True, text=True)
    assert r.returncode == 3, r.stderr  # finished, with something skipped
    assert "broken.mp4" in r.stderr + r.stdout and "Traceback" not in r.stderr
    summary = r.stdout.strip().splitlines()[-1]
    n = len(ours)
    assert summary.startswith(f"{2 * n} segments: {n} decoded, 0 already cached, {n} left out"), summary
    assert len(_entries(tmp_path / "cache")) == n

def _entries(cache_dir: Path) -> list[Path]:
    """Finished cache entries; a kill may leave a hidden temporary file, which is never read as an entry."""
    return [p for p in cache_dir.rglob("*.npy") if not p.name.startswith(".")]


def _alive_children(pid: int) -> list[int]:
    """Processes whose parent was ``pid`` and still run (orphans are re-parented, so search by group)."""
    out = subprocess.run(["ps", "-o", "pid=,pgid=,stat=", "-e"], capture_output=True, text=True).stdout.split("\n")
    return [int(p) for p, g, s in (line.split() for line in out if line.strip()) if int(g) == pid and int(p) != pid and not s.startswith("Z")]


def test_entries_and_window_lists_go_stale_when_the_crop_changes(tmp_path, monkeypatch):
    import spasmscope.data.localise

    plain, cropped = SegmentCache(tmp_path, ClipConfig(frames=8, size=32)), SegmentCache(tmp_path, ClipConfig(frames=8, size=32, crop_infant=True))
    before = (cropped.key("f", 0, 5), cropped.settings_digest(), plain.key("f", 0, 5), plain.settings_digest())
    assert before[0] != before[2] and before[1] != before[3]
    assert SegmentCache(tmp_path, ClipConfig(frames=16, size=32)).settings_digest() != before[3]
    # A new localiser version makes cropped entries (and pretrain mae's lists of them) again; plain ones stay.
    monkeypatch.setattr(spasmscope.data.localise, "CROP_VERSION", spasmscope.data.localise.CROP_VERSION + 1)
    assert cropped.key("f", 0, 5) != before[0] and cropped.settings_digest() != before[1]
    assert plain.key("f", 0, 5) == before[2] and plain.settings_digest() == before[3]


def test_settings_added_later_keep_the_keys_of_entries_made_before_them(tmp_path):
    # steady and phases came after caches existed: at their defaults they are left out of the key, so those entries
    # are found again; set, they make entries of their own.
    base = SegmentCache(tmp_path, ClipConfig(frames=8, size=32, crop_infant=True))
    assert "steady" not in base._settings()["clip"] and "phases" not in base._settings()["clip"]
    for changed in (dict(steady=True), dict(phases=2)):
        other = SegmentCache(tmp_path, ClipConfig(frames=8, size=32, crop_infant=True, **changed))
        assert other.key("f", 0, 5) != base.key("f", 0, 5) and other.settings_digest() != base.settings_digest()


def test_a_killed_writers_leftovers_are_cleared_and_nothing_else(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from spasmscope import atomic

    atomic.write_json(tmp_path / "weights.json", {"a": 1})
    # A writer killed between writing its temporary file and renaming it (SIGKILL runs no clean-up).
    code = "import os, sys, time\nfrom spasmscope import atomic\nwith atomic.atomic_path(sys.argv[1]) as tmp:\n    tmp.write_text('half')\n    print(tmp, flush=True)\n    time.sleep(60)\n"
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "predictions.csv")], stdout=subprocess.PIPE, text=True)
    left = proc.stdout.readline().strip()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert os.path.exists(left) and not (tmp_path / "predictions.csv").exists()
    assert [p.name for p in atomic.clear_leftovers(tmp_path)] == [os.path.basename(left)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.json"]


def test_jobs_run_in_this_process_leave_its_threads_as_they_are():
    import torch

    from spasmscope.data.batch import run_jobs

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for workers, jobs in ((1, [3, 4, 5]), (2, [6])):
            done: list[tuple[int, int]] = []
            run_jobs(os.getpid().__add__, jobs, workers, lambda job, result, error: done.append((job, result - os.getpid())))
            assert done == [(j, j) for j in jobs]  # each job ran here: its result carries this process's id
            assert torch.get_num_threads() == 2  # training after a one-worker prepare keeps its threads
        pool: list[int] = []
        run_jobs(_pid, [0, 1, 2, 3], 2, lambda job, result, error: pool.append(result))
        assert len(pool) == 4 and os.getpid() not in pool and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def _pid(_job: int) -> int:
    return os.getpid()
