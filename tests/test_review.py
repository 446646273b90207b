"""The review store and its export: append-only SQLite that loses no acknowledged decision, and exports that the
study's own readers accept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from spasmscope.errors import InputError, SettingError
from spasmscope.review.store import ReviewStore


def test_decisions_are_appended_and_the_latest_counts(tmp_path):
    store = ReviewStore(tmp_path / "review.sqlite")
    store.decide("a.mp4@1.00", "ann", "accept")
    store.decide("a.mp4@1.00", "ann", "reject", "a hiccup")
    store.decide("a.mp4@1.00", "bo", "unsure")
    store.decide("a.mp4@7.50", "ann", "accept")
    assert len(store.history()) == 4  # nothing is overwritten
    current = store.current().set_index(["item", "reviewer"])
    assert current.loc[("a.mp4@1.00", "ann"), "decision"] == "reject" and current.loc[("a.mp4@1.00", "ann"), "note"] == "a hiccup"
    assert current.loc[("a.mp4@1.00", "bo"), "decision"] == "unsure" and len(current) == 3
    item = store.add_event("a.mp4", 12.0, 13.0, "bo")
    assert item == "added:1" and store.current().set_index("item").loc[item, "decision"] == "accept"
    with pytest.raises(SettingError, match="decision='maybe'; use one of accept, reject, unsure"):
        store.decide("a.mp4@1.00", "ann", "maybe")
    assert len(store.history()) == 5  # the refused decision wrote nothing
    assert ReviewStore(tmp_path / "review.sqlite").history().equals(store.history())  # a new connection reads the same


def test_two_hundred_decisions_from_four_writers_at_once_are_all_stored(tmp_path):
    store = ReviewStore(tmp_path / "review.sqlite")

    def write(w: int) -> None:
        for i in range(50):
            store.decide(f"v.mp4@{i}.00", f"reviewer{w}", ("accept", "reject", "unsure")[i % 3])
        store.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = store.history()
    assert len(history) == 200 and history["id"].is_unique and len(store.current()) == 200


WRITER = """
import sys
from spasmscope.review.store import ReviewStore
store = ReviewStore(sys.argv[1])
for i in range(100000):
    store.decide(f"v.mp4@{i}.00", "ann", "accept")
    print(i, flush=True)  # acknowledged: committed before this line is written
"""


def test_a_writer_killed_mid_stream_loses_no_acknowledged_decision(tmp_path):
    path = tmp_path / "review.sqlite"
    ReviewStore(path)
    with subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True) as proc:
        acknowledged = [int(proc.stdout.readline()) for _ in range(150)]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    stored = set(ReviewStore(path).history()["item"])
    assert {f"v.mp4@{i}.00" for i in acknowledged} <= stored


def test_a_corrupt_store_is_refused_in_one_line(tmp_path):
    path = tmp_path / "review.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    with pytest.raises(InputError) as caught:
        ReviewStore(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: is not a readable review store") and "move it aside" in message and "\n" not in message


def test_export_writes_what_cv_and_score_events_read(screened, tmp_path):
    from conftest import fresh_copy

    from spasmscope.data.manifest import read_events, read_manifest
    from spasmscope.review.export import export
    from spasmscope.review.items import detections

    screened = fresh_copy(screened, tmp_path)
    items = detections(screened)
    assert len(items) >= 3, "the tiny model's threshold leaves too few detections to review"
    store = ReviewStore(screened / "review.sqlite")
    a, b = items["item"].iloc[0], items["item"].iloc[1]
    for reviewer, decisions in (("ann", {a: "accept", b: "reject"}), ("bo", {a: "accept", b: "accept"})):
        for item, decision in decisions.items():
            store.decide(item, reviewer, decision)
    store.decide(items["item"].iloc[2], "ann", "reject")
    video = items["video"].iloc[0]
    added = store.add_event(video, 40.0, 41.0, "ann")
    result = export(screened, tmp_path / "export", child="c1", cohort="night-1")
    manifest = read_manifest(tmp_path / "export" / "manifest.csv", require_labels=True)  # what cv and train read
    by_item = manifest.rows.set_index("item")
    assert by_item.loc[a, "label"] == 1 and by_item.loc[items["item"].iloc[2], "label"] == 0 and by_item.loc[added, "label"] == 1
    assert b not in by_item.index  # the reviewers disagree on it: in neither class
    assert (manifest.rows["end"] - manifest.rows["start"]).max() <= 5.0 and set(manifest.rows["child"]) == {"c1"}
    events = read_events(tmp_path / "export" / "events.csv")  # what score-events reads as truth
    assert sorted(events["onset"]) == sorted([items["onset"].iloc[0], 40.0])
    assert sorted(events["offset"]) == sorted([items["offset"].iloc[0], 41.0])  # an added event keeps its stored offset
    from conftest import run_cli

    # A reviewed recording measures a model: score-events takes the exported events as truth.
    r = run_cli("score-events", str(screened / "windows.csv"), "--events", str(tmp_path / "export" / "events.csv"), "--out", str(tmp_path / "scored"), "--threshold", "0.01")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "scored" / "event_metrics.json").read_text())["spasm"]["reference_events"] == 2
    r = run_cli("score-events", str(screened / "windows.csv"), "--out", str(tmp_path / "scored"))
    assert r.returncode == 2 and "give the annotated spasms once" in r.stderr
    tsv = pd.read_csv(next((tmp_path / "export").glob("*_events.tsv")), sep="\t")
    assert list(tsv.columns[:6]) == ["onset", "duration", "eventType", "confidence", "reviewer", "decision"]
    agreement = json.loads((tmp_path / "export" / "agreement.json").read_text())
    assert agreement["reviewers"] == ["ann", "bo"] and agreement["items_both_decided"] == 2
    assert agreement["cohen_kappa"] == pytest.approx(cohen_kappa_score(["accept", "reject"], ["accept", "accept"]))
    assert [d["item"] for d in agreement["disagreements"]] == [b] and result.agreement == agreement


def test_review_export_command_and_its_errors(screened, tmp_path):
    from conftest import fresh_copy, run_cli

    from spasmscope.review.items import detections

    screened = fresh_copy(screened, tmp_path)
    ReviewStore(screened / "review.sqlite").decide(detections(screened)["item"].iloc[0], "cy", "reject")
    r = run_cli("review", "export", str(screened), "--out", str(tmp_path / "x"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "x" / "manifest.csv").is_file() and "spasm-free segments" in r.stdout
    r = run_cli("review", "export", str(tmp_path), "--out", str(tmp_path / "y"))
    assert r.returncode == 2 and r.stderr.strip() == (
        f"error: {tmp_path}: is not a run to review (no windows.csv and events.csv, nor predictions.csv and run.json); "
        "give the --out folder of `spasmscope screen`, `cv` or `evaluate`")
