"""The study through the real CLI on a synthetic cohort: cv (folds, resume after a kill), train, evaluate, report."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli, tiny_config
from sklearn.metrics import accuracy_score, recall_score, roc_auc_score

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_config(tmp_path_factory.mktemp("cfg"))


def _cv_args(small_cohort: Path, out: Path, tiny: Path, cache: Path) -> list[str]:
    return ["cv", str(small_cohort / "manifest.csv"), "--out", str(out), "--config", str(tiny), "--folds", "3", "--cache", str(cache), "--no-table1", "--seed", "5"]


@pytest.fixture(scope="module")
def cv_run(small_cohort, tiny, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path, Path]:
    """One cross-validation (with Table 1) that several tests read and none change: its output, run folder and cache."""
    root = tmp_path_factory.mktemp("cv")
    r = run_cli(*_cv_args(small_cohort, root / "run", tiny, root / "cache")[:-3], "--seed", "5")
    assert r.returncode == 0, r.stderr
    return r, root / "run", root / "cache"


def test_cv_writes_folds_metrics_and_report(small_cohort, cv_run):
    r, out, _ = cv_run
    assert "pooled: auc" in r.stdout and "report:" in r.stdout
    manifest = pd.read_csv(small_cohort / "manifest.csv")
    pred = pd.read_csv(out / "predictions.csv")
    assert list(pred.columns) == [*manifest.columns, "fold", "score"]
    # Every child outside the train-only cohort is tested once, in one fold; healthy rows are never tested.
    assert (pred.groupby("child")["fold"].nunique() == 1).all()
    assert set(pred["child"]) == set(manifest.loc[manifest["cohort"] != "healthy", "child"]) and (pred["cohort"] != "healthy").all()
    assert len(pred) == (manifest["cohort"] != "healthy").sum() and sorted(pred["fold"].unique()) == [1, 2, 3]
    # metrics.json equals scikit-learn on predictions.csv, and the per-child means a direct computation.
    m = json.loads((out / "metrics.json").read_text())
    y, s = pred["label"], pred["score"]
    p = (s >= 0.5).astype(int)
    assert m["pooled"]["auc"] == pytest.approx(roc_auc_score(y, s))
    assert m["pooled"]["sensitivity"] == pytest.approx(recall_score(y, p))
    assert m["pooled"]["specificity"] == pytest.approx(recall_score(y, p, pos_label=0))
    assert m["pooled"]["accuracy"] == pytest.approx(accuracy_score(y, p))
    free = pred[pred.groupby("child")["label"].transform("max") == 0]
    assert m["pooled"]["far"] == (pytest.approx((free["score"] >= 0.5).mean()) if len(free) else None)
    accs = [((g["score"] >= 0.5) == (g["label"] == 1)).mean() for _, g in pred.groupby("child")]
    assert m["per_child"]["accuracy"]["mean"] == pytest.approx(np.mean(accs)) and m["per_child"]["accuracy"]["n"] == len(accs)
    # The report stands alone: six embedded figures (the paper's five and the reliability curve), Table 1, the PNGs.
    page = (out / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") == 6 and "Table 1" in page and "http" not in page.split("<pre>")[0]
    assert sorted(f.name for f in (out / "figures").iterdir()) == ["far.png", "overall.png", "per_child.png", "reliability.png", "roc.png", "scores.png"]
    assert m["calibration"]["brier"] == pytest.approx(float(np.mean((s - y) ** 2)))
    # The factor analysis splits the AUC by measured light; over all segments it is the pooled AUC.
    light = json.loads((out / "factors.json").read_text())["auc_night"]
    assert light["all"]["auc"] == pytest.approx(m["pooled"]["auc"]) and light["day"]["segments"] + light["night"]["segments"] == len(pred)
    assert "Pooled AUC: all segments" in page
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["train"]["seed"] == 5 and len(run["data_fingerprint"]) == 64
    assert len((out / "fold-1" / "train.jsonl").read_text().splitlines()) == 4


def test_cv_killed_in_its_third_fold_resumes_without_redoing_earlier_folds(small_cohort, tiny, cv_run, tmp_path):
    _, whole, cache = cv_run
    out = tmp_path / "killed"
    exe = Path(sys.executable).with_name("spasmscope")
    proc = subprocess.Popen([str(exe), *_cv_args(small_cohort, out, tiny, cache)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (out / "fold-3" / "train.jsonl").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (out / "fold-2" / "predictions.csv").exists() and not (out / "fold-3" / "predictions.csv").exists(), "the kill should land in fold 3"
    kept = {k: (out / f"fold-{k}" / "predictions.csv").stat().st_mtime_ns for k in (1, 2)}
    r = run_cli(*_cv_args(small_cohort, out, tiny, cache))
    assert r.returncode == 0, r.stderr
    assert "fold 1/3: done earlier, kept" in r.stderr and "fold 2/3: done earlier, kept" in r.stderr
    assert {k: (out / f"fold-{k}" / "predictions.csv").stat().st_mtime_ns for k in (1, 2)} == kept
    pd.testing.assert_frame_equal(pd.read_csv(out / "predictions.csv"), pd.read_csv(whole / "predictions.csv"))
    # A different recipe in the same folder would mix two runs: refused.
    r = run_cli(*_cv_args(small_cohort, out, tiny, cache)[:-1], "6")
    assert r.returncode == 2 and "holds a run made with another config" in r.stderr and "Traceback" not in r.stderr


def test_a_recorded_cv_is_taken_on_another_machine_with_its_finished_folds_only(small_cohort, tiny, cv_run, tmp_path):
    """benchmarks/record_cv.sh records a CV's finished folds, not the one still training; take_cv.sh copies them into
    a fresh OUT (as leave_one_renderer_out.sh does before each CV), where `spasmscope cv` keeps them, runs the fold not
    recorded and gives the whole run's predictions; the same folds under another cohort are refused by cv, a recorded
    file changed since by take_cv.sh, each in one line; a folder holding a run of its own is left alone."""
    _, whole, cache = cv_run
    scripts = Path(__file__).resolve().parents[1] / "benchmarks"
    env = {**os.environ, "CVS": str(tmp_path / "cvs")}

    def script(name: str, *args: Path | str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(scripts / name), *map(str, args)], env=env, capture_output=True, text=True)

    # The run as a killed machine left it: two folds finished, the third part-way.
    shutil.copytree(whole, tmp_path / "old" / "cv-x", ignore=shutil.ignore_patterns("predictions.csv", "metrics.json"))
    for k in (1, 2):
        shutil.copy(whole / f"fold-{k}" / "predictions.csv", tmp_path / "old" / "cv-x" / f"fold-{k}")
    r = script("record_cv.sh", tmp_path / "old", "cv-x")
    assert r.returncode == 0 and "2 finished folds" in r.stdout, r.stderr
    recorded = tmp_path / "cvs" / "cv-x"
    assert sorted(str(f.relative_to(recorded)) for f in recorded.rglob("*") if f.is_file()) == [
        "SHA256SUMS", *(f"fold-{k}/{n}" for k in (1, 2) for n in ("predictions.csv", "train.jsonl", "weights.json")), "folds.csv", "run.json"]
    # Another machine: nothing of the run but what was recorded.
    new = tmp_path / "new"
    assert script("take_cv.sh", new, "cv-x").returncode == 0
    r = run_cli(*_cv_args(small_cohort, new / "cv-x", tiny, cache))
    assert r.returncode == 0, r.stderr
    assert "fold 1/3: done earlier, kept" in r.stderr and "fold 2/3: done earlier, kept" in r.stderr and "fold 3/3: done earlier" not in r.stderr
    pd.testing.assert_frame_equal(pd.read_csv(new / "cv-x" / "predictions.csv"), pd.read_csv(whole / "predictions.csv"))
    # The recorded folds belong to one cohort: with a segment fewer, cv refuses them.
    rows = pd.read_csv(small_cohort / "manifest.csv")
    rows.assign(video=[str((small_cohort / v).resolve()) for v in rows["video"]]).iloc[1:].to_csv(tmp_path / "fewer.csv", index=False)
    assert script("take_cv.sh", tmp_path / "other", "cv-x").returncode == 0
    r = run_cli("cv", str(tmp_path / "fewer.csv"), *_cv_args(small_cohort, tmp_path / "other" / "cv-x", tiny, cache)[2:])
    assert r.returncode == 2 and "holds a run made with another data fingerprint" in r.stderr and "Traceback" not in r.stderr
    # A folder with a run of its own keeps it; a recorded file changed since is refused, naming the folder.
    (tmp_path / "own" / "cv-x").mkdir(parents=True)
    (tmp_path / "own" / "cv-x" / "run.json").write_text("{}")
    assert script("take_cv.sh", tmp_path / "own", "cv-x").returncode == 0
    assert [f.name for f in (tmp_path / "own" / "cv-x").iterdir()] == ["run.json"]
    (recorded / "fold-1" / "predictions.csv").write_text("child,score\n")
    r = script("take_cv.sh", tmp_path / "third", "cv-x")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and str(recorded) in r.stderr
    assert not (tmp_path / "third").exists()
    nothing = script("record_cv.sh", tmp_path / "old", "cv-none")
    assert nothing.returncode == 2 and nothing.stderr.count("\n") == 1 and str(tmp_path / "old" / "cv-none") in nothing.stderr


def test_train_then_evaluate_an_external_cohort(small_cohort, tiny, tmp_path):
    model = tmp_path / "model"
    r = run_cli("train", str(small_cohort / "manifest.csv"), "--out", str(model), "--config", str(tiny), "--cache", str(tmp_path / "cache"))
    assert r.returncode == 0, r.stderr
    meta = json.loads((model / "config.json").read_text())
    manifest = pd.read_csv(small_cohort / "manifest.csv")
    assert meta["n_segments"] == len(manifest) and meta["config"]["clip"]["size"] == 32 and (model / "model.safetensors").exists()
    ext = tmp_path / "ext"
    r = run_cli("evaluate", str(model), str(small_cohort / "manifest.csv"), "--out", str(ext), "--no-table1", "--cache", str(tmp_path / "cache"))
    assert r.returncode == 0, r.stderr
    pred = pd.read_csv(ext / "predictions.csv")
    assert len(pred) == len(manifest) and (pred["fold"] == 0).all() and pred["score"].between(0, 1).all()
    metrics = json.loads((ext / "metrics.json").read_text())
    assert metrics["n_segments"] == len(manifest) and {"brier", "ece", "curve"} <= set(metrics["calibration"])
    assert (ext / "report.html").exists() and (ext / "figures" / "reliability.png").exists()


def test_a_model_calibrated_on_its_cross_validation_scores_with_that_temperature(small_cohort, tiny, cv_run, tmp_path):
    from spasmscope.model.scores import fit_temperature, temper

    _, cv_dir, cache = cv_run
    cv = pd.read_csv(cv_dir / "predictions.csv")
    common = ("--config", str(tiny), "--cache", str(cache), "--seed", "5")
    for name, extra in (("plain", ()), ("calibrated", ("--calibrate-with", str(cv_dir)))):
        r = run_cli("train", str(small_cohort / "manifest.csv"), "--out", str(tmp_path / name), *common, *extra)
        assert r.returncode == 0, r.stderr
        r = run_cli("evaluate", str(tmp_path / name), str(small_cohort / "manifest.csv"), "--out", str(tmp_path / f"{name}-ext"), "--no-table1", "--cache", str(cache))
        assert r.returncode == 0, r.stderr
    temperature = json.loads((tmp_path / "calibrated" / "config.json").read_text())["temperature"]
    assert temperature == pytest.approx(fit_temperature(cv["score"].to_numpy(), cv["label"].to_numpy()))
    plain, calibrated = (pd.read_csv(tmp_path / f"{n}-ext" / "predictions.csv")["score"].to_numpy() for n in ("plain", "calibrated"))
    assert calibrated == pytest.approx(temper(plain, temperature), abs=1e-9)
    r = run_cli("train", str(small_cohort / "manifest.csv"), "--out", str(tmp_path / "x"), "--config", str(tiny), "--calibrate-with", str(cv_dir))
    assert r.returncode == 2 and "was made with another config" in r.stderr  # the cv run used --seed 5


def test_bad_study_input_is_one_line(small_cohort, tmp_path):
    r = run_cli("cv", str(small_cohort / "manifest.csv"), "--out", str(tmp_path / "r"), "--preset", "paper")
    assert r.returncode == 2 and "the paper preset fine-tunes the Kinetics-400 Hiera-B weights" in r.stderr and "--weights hub" in r.stderr
    r = run_cli("cv", str(small_cohort / "manifest.csv"), "--out", str(tmp_path / "r"), "--folds", "4", "--no-table1", "--cache", str(tmp_path / "c"))
    assert r.returncode == 2 and "3 children with spasms outside the train-only cohorts" in r.stderr and "use fewer --folds" in r.stderr
    assert not (tmp_path / "c").exists(), "refused before any video is decoded"
    r = run_cli("evaluate", str(tmp_path), str(small_cohort / "manifest.csv"), "--out", str(tmp_path / "e"))
    assert r.returncode == 2 and "is not a spasmscope model" in r.stderr
