"""Every command the README's table shows runs as written, from the installed console script, at its smallest size."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPASMSCOPE = str(Path(sys.executable).parent / "spasmscope")


def documented() -> set[str]:
    """The commands of the README's "What works today" table (``pretrain supervised`` counts as one)."""
    table = ROOT.joinpath("README.md").read_text().split("## What works today", 1)[1].split("\n\n", 2)[1]
    return {m.group(1) for m in re.finditer(r"^\| `spasmscope ((?:pretrain |review )?[a-z-]+)", table, re.M)}


def run(cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run([SPASMSCOPE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"spasmscope {' '.join(args)} exited {result.returncode}:\n{result.stderr[-2000:]}"
    return result


@pytest.mark.slow
def test_every_documented_command_runs(tmp_path):
    ran: set[str] = set()

    def go(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
        ran.add(" ".join(args[:2]) if args[0] in ("pretrain", "review") else args[0])
        return run(tmp_path, *args, timeout=timeout)

    go("synth", "cohort", "--children", "3", "--healthy", "2", "--seed", "4", "--long-minutes", "0.5")
    long = str(next((tmp_path / "cohort" / "long").glob("*.mp4")).relative_to(tmp_path))
    go("prepare", "cohort/manifest.csv", "--cache", "cache", "--frames", "16", "--size", "64", "--crop-infant", "--steady", "--phases", "2")
    go("probe", "cohort/manifest.csv", "--out", "probe.csv", "--table1", "table1.csv")
    prepared = sorted((tmp_path / "cache").rglob("*.npy"))
    # The cpu preset cuts the clips prepare was asked for: cv, train and evaluate read them and decode nothing more.
    go("cv", "cohort/manifest.csv", "--out", "cv", "--folds", "2", "--epochs", "1", "--no-table1", "--cache", "cache")
    go("train", "cohort/manifest.csv", "--out", "model", "--epochs", "1", "--cache", "cache", "--calibrate-with", "cv")
    go("evaluate", "model", "cohort/manifest.csv", "--out", "external", "--cache", "cache", "--no-table1")
    assert prepared and sorted((tmp_path / "cache").rglob("*.npy")) == prepared
    go("screen", "model", long, "--out", "screened", "--events", "cohort/events.csv")
    scored = go("score-events", "screened/windows.csv", "cohort/events.csv", "--out", "scored", "--target-fa-per-24h", "24", "--movements", "cohort/movements.csv")
    assert "by the movement they hold" in scored.stdout
    go("review", "export", "screened", "--out", "reviewed")
    ran.add("review")  # the station runs until stopped: started as documented, answered, then stopped
    with subprocess.Popen([SPASMSCOPE, "review", "screened", "--no-browser"], cwd=tmp_path, stdout=subprocess.PIPE, text=True) as station:
        address = station.stdout.readline().split()[2]
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(address, timeout=30) as page:
            assert page.status == 200 and b"spasmscope review" in page.read()
        station.terminate()
    go("pretrain", "supervised", "--out", "backbone", "--steps", "2", "--batch-size", "2", "--workers", "0", "--val-clips", "16", "--renderers", "articulated,silhouette", "--invariance", "1", "--movement", "1")
    go("pretrain", "mae", long, "--out", "mae", "--weights", "default", "--steps", "2", "--batch-size", "2")
    # A relative --out, as the README shows it: the bench's manifests live in temporary folders.
    bench = go("bench", "--minutes", "0.1", "--no-paper", "--repeats", "1", "--batch", "4", "--speed-seconds", "6", "--out", "bench-out", timeout=900)
    assert {(row["batch"], row["mode"]) for row in json.loads(bench.stdout)["model"]} == {(4, "score"), (4, "train")}
    # One epoch a fit: the demo's own four are `make demo`'s to time; here it is a check that every stage runs.
    go("demo", "--out", "demo", "--children", "5", "--healthy", "2", "--epochs", "1", timeout=900)
    logs = sorted((tmp_path / "demo").glob("cv/fold-*/train.jsonl")) + [tmp_path / "demo" / "model" / "train.jsonl"]
    assert len(logs) == 6 and all(len(log.read_text().splitlines()) == 1 for log in logs)

    for made in ("probe.csv", "table1.csv", "cv/report.html", "model/model.safetensors", "external/metrics.json", "screened/report.html",
                 "scored/event_metrics.json", "reviewed/manifest.csv", "backbone/model.safetensors", "mae/model.safetensors", "bench-out/room-720p-6s.mp4",
                 "demo/cv/report.html", "demo/external-eval/report.html"):  # fmt: skip
        assert (tmp_path / made).is_file(), made
    assert ran == documented(), f"documented but not run: {documented() - ran}; run but not documented: {ran - documented()}"
    shutil.rmtree(tmp_path / "bench-out")  # a few hundred MB of drawn video
