"""The review station through its real server and a real browser: tokens, paths, the store under load and a kill,
and a clinician's keyboard session from screening to export."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import fresh_copy

from spasmscope.review.store import ReviewStore

SPASMSCOPE = str(Path(sys.executable).parent / "spasmscope")
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, whatever the environment's proxy
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def station(run: Path, *extra: str):
    """``spasmscope review RUN --no-browser``, as a user starts it; yields the process and the printed address."""
    proc = subprocess.Popen([SPASMSCOPE, "review", str(run), "--no-browser", "--reviewer", "ann", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:(\d+))/\?token=(\S+)", line)
        assert found, f"no address printed: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
        yield proc, found.group(1), found.group(3)
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()


def request(url: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with DIRECT.open(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()


def test_tokens_paths_binding_and_bad_bodies(screened, tmp_path):
    run = fresh_copy(screened, tmp_path)
    with station(run) as (proc, base, token):
        for path in ("/", "/api/items", "/video/rec0", "/page/app.js"):
            assert request(base + path)[0] == 403
            assert request(f"{base}{path}?token=wrong")[0] == 403
        assert request(f"{base}/api/items?token={token}")[0] == 200
        assert request(f"{base}/api/items", headers={"X-Token": token})[0] == 200
        for path in ("/../../etc/passwd", "/video/..%2F..%2Fetc%2Fpasswd", "/page/..%2Fstore.py", "/page/%2Fetc%2Fpasswd", "/page/index.html",
                     "/video/rec9", "/etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", f"/video/{run}/windows.csv", "/page/../app.py"):  # fmt: skip
            assert request(f"{base}{path}?token={token}")[0] == 404, path
        # Bound to 127.0.0.1 alone: the same port on another loopback address refuses.
        port = int(base.rsplit(":", 1)[1])
        with pytest.raises(OSError), socket.create_connection(("127.0.0.2", port), timeout=2):
            pass
        before = len(ReviewStore(run / "review.sqlite").history())
        items = json.loads(request(f"{base}/api/items?token={token}")[1])["items"]
        for body in ({"item": items[0]["id"], "decision": "maybe"}, {"item": items[0]["id"]}, {"decision": "accept"}, {"item": "9:x", "decision": "accept"}, [1]):
            assert request(f"{base}/api/decisions?token={token}", body)[0] == 422, body
        assert len(ReviewStore(run / "review.sqlite").history()) == before
        # The recording is served in ranges: a player never loads an hour's file whole.
        req = urllib.request.Request(f"{base}/video/rec0?token={token}", headers={"Range": "bytes=0-99"})
        with DIRECT.open(req, timeout=30) as r:
            assert r.status == 206 and len(r.read()) == 100


def test_concurrent_clients_and_a_killed_server_lose_nothing_acknowledged(screened, tmp_path):
    run = fresh_copy(screened, tmp_path)
    with station(run) as (proc, base, token):
        items = [it["id"] for it in json.loads(request(f"{base}/api/items?token={token}")[1])["items"]]
        acknowledged: list[int] = []

        def client(c: int) -> None:
            for i in range(50):
                status, body = request(f"{base}/api/decisions?token={token}", {"item": items[(c + i) % len(items)], "decision": ("accept", "reject", "unsure")[i % 3], "note": f"{c}-{i}"})
                assert status == 200
                acknowledged.append(json.loads(body)["id"])

        clients = [threading.Thread(target=client, args=(c,)) for c in range(4)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        assert len(acknowledged) == 200
        stop = threading.Event()
        late: list[int] = []

        def stream() -> None:
            while not stop.is_set():
                try:
                    status, body = request(f"{base}/api/decisions?token={token}", {"item": items[0], "decision": "accept"})
                except OSError:
                    return
                if status == 200:
                    late.append(json.loads(body)["id"])

        writer = threading.Thread(target=stream)
        writer.start()
        while len(late) < 20:
            pass
        os.kill(proc.pid, signal.SIGKILL)
        stop.set()
        writer.join()
    ids = set(ReviewStore(run / "review.sqlite").history()["id"])
    assert set(acknowledged) <= ids and set(late) <= ids and len(acknowledged) + len(late) <= len(ids)


def test_a_folder_that_is_not_a_run_and_a_recording_moved_since_screening(screened, tmp_path):
    r = subprocess.run([SPASMSCOPE, "review", str(tmp_path), "--no-browser"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.strip().endswith(
        "is not a run to review (no windows.csv and events.csv, nor predictions.csv and run.json); give the --out folder of `spasmscope screen`, `cv` or `evaluate`")
    run = fresh_copy(screened, tmp_path)
    windows = (run / "windows.csv").read_text()
    video = windows.splitlines()[1].split(",")[0]
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.copy(video, moved / "elsewhere.mp4")
    (run / "windows.csv").write_text(windows.replace(video, str(tmp_path / "gone" / Path(video).name)))
    (run / "events.csv").write_text((run / "events.csv").read_text().replace(video, str(tmp_path / "gone" / Path(video).name)))
    r = subprocess.run([SPASMSCOPE, "review", str(run), "--no-browser"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "has moved or is missing; give --recordings FOLDER where the recordings are now" in r.stderr and "Traceback" not in r.stderr
    shutil.copy(video, moved / Path(video).name)
    with station(run, "--recordings", str(moved)) as (_, base, token):
        assert request(f"{base}/video/rec0?token={token}")[0] == 200


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is installed by `make test`")
def test_a_keyboard_review_in_a_real_browser_from_screening_to_export(screened, tmp_path):
    from playwright.sync_api import sync_playwright

    from spasmscope.data.manifest import read_manifest

    run = fresh_copy(screened, tmp_path)
    with station(run) as (_, base, token), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        page.goto(f"{base}/?token={token}")
        page.wait_for_selector("#queue li.current")
        items = json.loads(request(f"{base}/api/items?token={token}")[1])["items"]
        assert page.locator("#queue li").count() == len(items) >= 3
        assert page.inner_text("#progress") == f"0 of {len(items)} reviewed"

        page.keyboard.press("j")  # the second detection
        page.wait_for_function("document.querySelectorAll('#queue li')[1].classList.contains('current')")
        onset = items[1]["onset"]
        page.wait_for_function(f"document.getElementById('player').currentTime >= {max(0.0, onset - 3.0) - 0.05}", timeout=20000)
        first = page.evaluate("document.getElementById('player').currentTime")
        page.wait_for_timeout(1500)
        later = page.evaluate("document.getElementById('player').currentTime")
        assert max(0.0, onset - 3.0) - 0.05 <= first < onset and later > first + 0.3  # it plays, from 3 s before the onset

        page.wait_for_function("document.getElementById('strip').naturalWidth > 0")  # the frame strip of the detection
        page.keyboard.press("a")  # accept the second; the third is next
        page.wait_for_function("document.getElementById('progress').textContent.startsWith('1 of')")
        page.keyboard.press("r")
        page.wait_for_function("document.getElementById('progress').textContent.startsWith('2 of')")
        page.keyboard.press("m")  # a spasm the model missed, here
        page.wait_for_function("document.getElementById('progress').textContent.startsWith('3 of')")
        page.keyboard.press("?")
        assert page.is_visible("#help")
        page.keyboard.press("?")
        page.screenshot(path=str(tmp_path / "review.png"))
        if os.environ.get("SPASMSCOPE_SCREENSHOT"):
            page.screenshot(path=os.environ["SPASMSCOPE_SCREENSHOT"])

        page.reload()
        page.wait_for_selector("#queue li.current")
        states = [s.lower() for s in page.locator("#queue .state").all_inner_texts()]
        assert states.count("accept") == 2 and states.count("reject") == 1  # the added event is accepted by its reviewer
        browser.close()
    assert requested and all(u.startswith(base + "/") for u in requested), [u for u in requested if not u.startswith(base)]

    current = ReviewStore(run / "review.sqlite").current().set_index("item")
    assert current.loc[items[1]["id"].split(":", 1)[1], "decision"] == "accept" and current.loc[items[2]["id"].split(":", 1)[1], "decision"] == "reject"
    assert (current.loc[current.index.str.startswith("added:"), "decision"] == "accept").sum() == 1 and set(current["reviewer"]) == {"ann"}
    r = subprocess.run([SPASMSCOPE, "review", "export", str(run), "--out", str(tmp_path / "export")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    manifest = read_manifest(tmp_path / "export" / "manifest.csv", require_labels=True)  # what cv reads
    assert sorted(manifest.rows["label"]) == [0, 1, 1]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is installed by `make test`")
def test_a_run_without_detections_says_so(screened, tmp_path):
    from playwright.sync_api import sync_playwright

    run = fresh_copy(screened, tmp_path)
    (run / "events.csv").write_text("video,onset,offset,peak_score,peak_time,first_alarm\n")
    with station(run) as (_, base, token), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{base}/?token={token}")
        page.wait_for_selector("#empty", state="visible")
        assert "No detections in these runs" in page.inner_text("#empty") and page.inner_text("#progress") == "0 of 0 reviewed"
        browser.close()


def test_a_recording_browsers_cannot_play_is_served_as_an_h264_clip(screened, tmp_path):
    from media import Case, write

    from spasmscope.data.video import probe
    from spasmscope.data.windows import WindowConfig
    from spasmscope.review.clips import playable
    from spasmscope.screening.screen import ScreenConfig, screen

    avi = write(Case("eeg-export.avi", "mjpeg", n=300, pix_fmt="yuvj420p"), tmp_path)  # 10 s of MJPEG in AVI
    assert not playable(str(avi)) and playable(str(Path(json.loads((screened / "screen.json").read_text())["videos"][0])))
    run = tmp_path / "run"
    screen(screened.parent / "model", [str(avi)], run, ScreenConfig(WindowConfig(hop=5.0, crop="none", min_visibility=0.0, dark_level=0.0)))
    with station(run) as (_, base, token):
        status, body = request(f"{base}/clip/rec0?start=1&end=4&token={token}")
        assert status == 200 and body[4:8] == b"ftyp"  # an MP4
        assert request(f"{base}/clip/rec0?start=4&end=4&token={token}")[0] == 422
    clips = list((run / "review-clips").glob("*.mp4"))
    assert len(clips) == 1 and probe(clips[0]).codec == "h264" and probe(clips[0]).duration == pytest.approx(3.0, abs=0.05)


def test_another_reviewers_decisions_and_the_frame_strip(screened, tmp_path):
    import cv2
    import numpy as np

    from spasmscope.data.video import read_frames
    from spasmscope.screening.report import STRIP_FRAMES, STRIP_HEIGHT

    run = fresh_copy(screened, tmp_path)
    with station(run) as (_, base, token):
        items = json.loads(request(f"{base}/api/items?token={token}")[1])["items"]
        store = ReviewStore(run / "review.sqlite")
        store.decide(items[0]["id"].split(":", 1)[1], "bob", "reject")
        store.decide(items[1]["id"].split(":", 1)[1], "bob", "accept")
        mine = json.loads(request(f"{base}/api/items?token={token}")[1])
        assert mine["reviewers"] == ["ann", "bob"] and {it["state"] for it in mine["items"]} == {"undecided"}
        assert "bob: reject" in {it["id"]: it for it in mine["items"]}[items[0]["id"]]["others"]
        bobs = json.loads(request(f"{base}/api/items?reviewer=bob&state=reject&token={token}")[1])
        assert bobs["shown_for"] == "bob" and [it["id"] for it in bobs["items"]] == [items[0]["id"]]
        assert request(f"{base}/api/items?reviewer=carol&token={token}")[0] == 422
        # The strip: frames evenly across the detection, side by side, as the report draws them.
        it = items[0]
        status, png = request(f"{base}/strip/{it['recording']}?onset={it['onset']}&offset={it['offset']}&token={token}")
        assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"
        strip = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        video = json.loads((run / "screen.json").read_text())["videos"][0]
        frames = read_frames(video, np.linspace(it["onset"], it["offset"], STRIP_FRAMES + 2)[1:-1])
        assert strip.shape[0] == STRIP_HEIGHT and strip.shape[1] == STRIP_FRAMES * round(frames.shape[2] * STRIP_HEIGHT / frames.shape[1])
        assert request(f"{base}/strip/{it['recording']}?onset=5&offset=1&token={token}")[0] == 422
        assert request(f"{base}/strip/{it['recording']}?onset=1&offset=5")[0] == 403


def test_a_cv_run_is_reviewed_as_its_positive_segments(small_cohort, tmp_path):
    import pandas as pd

    from conftest import run_cli, tiny_config

    from spasmscope.data.manifest import read_manifest

    run = tmp_path / "cv"
    r = run_cli("cv", str(small_cohort / "manifest.csv"), "--out", str(run), "--config", str(tiny_config(tmp_path, epochs=1)), "--folds", "2", "--no-table1")
    assert r.returncode == 0, r.stderr
    predictions = pd.read_csv(run / "predictions.csv")
    cut = json.loads((run / "metrics.json").read_text())["threshold"]
    # A random-looking tiny model scores near 0.5: review the segments above the median, as a stricter run would.
    predictions_json = json.loads((run / "metrics.json").read_text())
    predictions_json["threshold"] = cut = float(predictions["score"].median())
    (run / "metrics.json").write_text(json.dumps(predictions_json))
    positive = predictions[predictions["score"] >= cut]
    assert 0 < len(positive) < len(predictions)
    with station(run) as (_, base, token):
        items = json.loads(request(f"{base}/api/items?order=time&token={token}")[1])["items"]
        recordings = {rec["id"]: rec for rec in json.loads(request(f"{base}/api/recordings?token={token}")[1])["recordings"]}
        assert len(items) == len(positive) and all(it["offset"] - it["onset"] == pytest.approx(5.0) for it in items)
        assert sorted(it["peak_score"] for it in items) == pytest.approx(sorted(positive["score"]))
        assert {recordings[it["recording"]]["name"] for it in items} == {Path(v).name for v in positive["video"]}
        assert all(rec["threshold"] == cut and rec["duration"] >= 5.0 for rec in recordings.values())
        assert request(f"{base}/video/{items[0]['recording']}?token={token}")[0] == 200
        for it, decision in zip(items[:2], ("accept", "reject"), strict=False):
            assert request(f"{base}/api/decisions?token={token}", {"item": it["id"], "decision": decision})[0] == 200
    r = subprocess.run([SPASMSCOPE, "review", "export", str(run), "--out", str(tmp_path / "export")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    manifest = read_manifest(tmp_path / "export" / "manifest.csv", require_labels=True)
    assert sorted(manifest.rows["label"]) == sorted([1, 0][: min(2, len(items))])
