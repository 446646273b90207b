"""Speed of the review station (issue "Review station"), through its real server and Debian's chromium:

- the queue of 2,000 detections over 10 recordings answers (GET /api/items, ordered by score), limit 1 s;
- a decision is stored (POST /api/decisions, acknowledged after its commit), limit 50 ms;
- the first frame of a detection in a 1-hour 720p recording plays after the key that selects it, limit 1 s (the
  reviewer watches each detection for ``--watch-ms`` before pressing ``j``, time in which the page readies the next
  one; 0 times a reviewer who skips through at once).

    .venv/bin/python benchmarks/review_speed.py [--out review-bench] [--minutes 60] [--watch-ms 2000]

Draws the 720p recording once (benchmarks/run.py's room video), lists it as 10 recordings (hard links, so that
each is its own file to the station) with 200 detections each, and prints one JSON object of medians and 95th
percentiles.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def make_run(out: Path, minutes: float, recordings: int = 10, per_recording: int = 200) -> Path:
    from run import draw_video

    video = draw_video(out / f"room-720p-{minutes:g}min.mp4", 60 * minutes, 1280, 720)
    run = out / "run"
    run.mkdir(parents=True, exist_ok=True)
    windows, events = [], []
    duration = 60 * minutes
    starts = np.arange(0, duration - 5 + 1e-9, 2.5)
    rng = np.random.default_rng(0)
    for r in range(recordings):
        path = out / f"recording-{r}.mp4"
        if not path.exists():
            os.link(video, path)
        scores = rng.random(len(starts))
        windows.append(pd.DataFrame({"video": str(path), "start": starts, "end": starts + 5, "score": scores.round(6), "valid": 1, "reason": "", "visibility": 1.0,
                                     "crop_x": 0, "crop_y": 0, "crop_w": 1280, "crop_h": 720}))  # fmt: skip
        onsets = np.sort(rng.choice(np.arange(10, duration - 20, 7.5), per_recording, replace=False))
        events.append(pd.DataFrame({"video": str(path), "onset": onsets, "offset": onsets + 5, "peak_score": rng.random(per_recording).round(6), "peak_time": onsets + 2.5, "first_alarm": onsets + 5}))
    pd.concat(windows).to_csv(run / "windows.csv", index=False)
    pd.concat(events).to_csv(run / "events.csv", index=False)
    (run / "screen.json").write_text(json.dumps({"config": {"threshold": 0.5}}))
    for stale in run.glob("review.sqlite*"):
        stale.unlink()
    return run


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def summary(seconds: list[float]) -> dict:
    ms = sorted(1000 * s for s in seconds)
    return {"median_ms": round(statistics.median(ms), 1), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1), "n": len(ms)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("review-bench"))
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--watch-ms", type=int, default=2000, help="how long the timed reviewer watches each detection before pressing j")
    args = ap.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    run = make_run(out, args.minutes)
    station = subprocess.Popen([str(Path(sys.executable).parent / "spasmscope"), "review", str(run), "--no-browser", "--reviewer", "bench"], stdout=subprocess.PIPE, text=True)
    try:
        address = re.search(r"(http://\S+)", station.stdout.readline()).group(1)
        base, token = address.split("/?token=")
        items = json.loads(DIRECT.open(f"{base}/api/items?token={token}", timeout=60).read())["items"]
        queue = timed(lambda: DIRECT.open(f"{base}/api/items?order=score&token={token}", timeout=60).read(), 20)
        ids = iter(it["id"] for it in items)

        def decide() -> None:
            body = json.dumps({"item": next(ids), "decision": "reject"}).encode()
            DIRECT.open(urllib.request.Request(f"{base}/api/decisions?token={token}", data=body, headers={"Content-Type": "application/json"}), timeout=60).read()

        decisions = timed(decide, 200)
        first_frame = []
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=["--autoplay-policy=no-user-gesture-required"])
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(address)
            page.wait_for_selector("#queue li.current")
            for _ in range(10):  # the next detection, later in the hour or in another file
                page.wait_for_timeout(args.watch_ms)  # the reviewer watches the detection before moving on
                # The key, the seek it starts (none when the page had the detection waiting), and the first frame
                # shown after it, timed inside the page.
                seconds, at, target, painted = page.evaluate("""async () => {
                    const t0 = performance.now();
                    document.dispatchEvent(new KeyboardEvent('keydown', {key: 'j'}));
                    const p = document.getElementById('player');
                    const target = Math.max(0, items[current].onset - lead);
                    if (p.seeking || p.readyState < 2) await new Promise(r => p.addEventListener('seeked', r, {once: true}));
                    const seeked = performance.now();
                    const shown = await new Promise(r => p.requestVideoFrameCallback(now => r(now)));
                    return [(seeked - t0) / 1000, p.currentTime, target, (shown - t0) / 1000];
                }""")
                print(json.dumps({"seeked_s": round(seconds, 3), "painted_s": round(painted, 3), "shown_at": round(at, 2), "asked": round(target, 2)}), file=sys.stderr)
                first_frame.append(painted)
            browser.close()
    finally:
        station.terminate()
        station.wait()
    result = {"detections": len(items), "recordings": 10, "recording": f"1280x720 H.264, {args.minutes:g} min", "queue": summary(queue),
              "decision": summary(decisions), "first_frame": summary(first_frame), "limits_ms": {"queue": 1000, "decision": 50, "first_frame": 1000}}  # fmt: skip
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
