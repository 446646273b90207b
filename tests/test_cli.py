"""The command line: instant help, one-line errors without tracebacks, skip-and-report in batches."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import BAD_VIDEOS, cli_runs, make_video, one_line_error, one_line_errors, run_cli, write_bad_videos

from spasmscope.model.weights import embedded_backbone


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    make_video(d / "good.mp4", 30 * 11)  # 11 s
    make_video(d / "good2.mp4", 30 * 6)
    write_bad_videos(d, d / "good.mp4")
    return d


def test_help_is_instant_and_lists_commands():
    start = time.perf_counter()
    r = run_cli("--help")
    assert r.returncode == 0 and time.perf_counter() - start < 5
    for cmd in ("synth", "prepare", "probe", "demo"):
        assert cmd in r.stdout


def test_help_shows_the_config_tables_by_name():
    # Rich reads a bare "[model]" in a help text as a style and drops it, which left "with ,  and  tables".
    r = run_cli("cv", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.replace("│", " ").split())
    assert "[model], [clip] and [train] tables" in text, text


def test_probe_of_a_bad_video_is_one_line(folder, tmp_path):
    runs = cli_runs([["probe", str(folder / name), "--out", str(tmp_path / f"t{k}.csv")] for k, (name, _) in enumerate(BAD_VIDEOS)])
    one_line_errors(runs, [words for _, words in BAD_VIDEOS])


MANIFEST_ERRORS = [
    ("video,start,label\ngood.mp4,0,1\n", ["line 1", "no column 'child'"]),
    ("video,child,start,label\ngood.mp4,c1,0,2\n", ["line 2", "label is '2'"]),
    ("video,child,start,end\ngood.mp4,c1,5,5\n", ["line 2", "is not after start"]),
    ("video,child,start\ngood.mp4,c1,0\ngood.mp4,c1,8\n", ["line 3", "past the end of good.mp4"]),
    ("video,child,start,cohort\ngood.mp4,c1,0,derivation\ngood2.mp4,c1,0,healthy\n", ["line 3", "two cohorts"]),
    ("video,child,start\ngood.mp4,c1,0\ngood.mp4,c1,0\n", ["line 3", "duplicate segment"]),
    ("video,child,start\nnothere.mp4,c1,0\n", ["line 2", "video not found"]),
]


def test_bad_manifest_is_one_line_before_work(folder, tmp_path):
    commands, words = [], []
    for k, (text, expected) in enumerate(MANIFEST_ERRORS):
        manifest = folder / f"m_{k}.csv"
        manifest.write_text(text)
        commands += [["prepare", str(manifest), "--cache", str(tmp_path / "cache"), "--size", "32", "--workers", "1"], ["probe", str(manifest), "--out", str(tmp_path / "t.csv")]]
        words += [[manifest.name, *expected]] * 2
    one_line_errors(cli_runs(commands), words)
    assert not list((tmp_path / "cache").rglob("*.npy")) and not (tmp_path / "t.csv").exists()  # refused before any work


@pytest.mark.parametrize("command", ["prepare", "probe"])
def test_batch_skips_bad_videos_and_finishes(folder, tmp_path, command):
    rows = ["video,child,start"] + [f"{v},c{i},0" for i, v in enumerate(["good.mp4", "empty.mp4", "truncated.mp4", "good2.mp4", "text.mp4", "audio.mp4"])]
    manifest = folder / "mixed.csv"
    manifest.write_text("\n".join(rows) + "\n")
    cache, table = tmp_path / "cache", tmp_path / "t.csv"
    if command == "prepare":
        args = ["prepare", str(manifest), "--cache", str(cache), "--size", "32", "--workers", "2"]
    else:
        args = ["probe", str(manifest), "--out", str(table), "--workers", "2"]
    r = run_cli(*args)
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr
    skipped = [line for line in r.stderr.splitlines() if line.startswith("skipped:")]
    assert len(skipped) == 4
    for bad in ("empty.mp4", "truncated.mp4", "text.mp4", "audio.mp4"):
        assert sum(bad in line for line in skipped) == 1
    if command == "prepare":
        assert len(list(cache.rglob("*.npy"))) == 2
        assert "2 decoded" in r.stdout
    else:
        import pandas as pd

        t = pd.read_csv(table)
        assert sorted(t.loc[t.level == "video", "video"]) == ["good.mp4", "good2.mp4"]
    strict = run_cli(*args, "--strict")
    one_line_error(strict, "empty.mp4")


def test_bad_option_values_are_one_line(folder, tmp_path):
    manifest = folder / "ok.csv"
    manifest.write_text("video,child,start\ngood.mp4,c1,0\n")
    cases = [
        (["prepare", str(manifest), "--cache", str(tmp_path / "c"), "--spatial", "zoom"], ["spatial='zoom'", "squash"]),
        (["synth", str(tmp_path / "s"), "--children", "0", "--healthy", "0"], ["empty cohort"]),
        (["pretrain", "supervised", "--out", str(tmp_path / "b"), "--curriculum", "2"], ["curriculum=2.0"]),
        (["pretrain", "supervised", "--out", str(tmp_path / "b"), "--augment", "-0.5"], ["augment_p=-0.5"]),
        (["pretrain", "supervised", "--out", str(tmp_path / "b"), "--val-clips", "0"], ["val_clips=0"]),
    ]
    one_line_errors(cli_runs([args for args, _ in cases]), [words for _, words in cases])
    assert not (tmp_path / "b").exists()
    # A negative count of processes is the command line's own usage error (0 is "all cores", or "in this process").
    negative = [["prepare", str(manifest), "--cache", str(tmp_path / "c"), "--workers", "-1"], ["cv", str(manifest), "--out", str(tmp_path / "r"), "--workers", "-2"],
                ["pretrain", "supervised", "--out", str(tmp_path / "b"), "--workers", "-1"]]  # fmt: skip
    for run in cli_runs(negative):
        assert run.code == 2 and "Invalid value for '--workers'" in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


# Commands given one bad input each, and words their one-line error must hold ({out} is each command's own folder).
BAD_INPUTS = [
    (["pretrain", "supervised", "--out", "{out}", "--weights", "{missing}"], ["nothere.pth", "weights not found"]),
    (["pretrain", "mae", "{video}", "--out", "{out}", "--weights", "{missing}"], ["nothere.pth", "weights not found"]),
    (["cv", "{manifest}", "--out", "{out}", "--weights", "{missing}"], ["nothere.pth", "weights not found"]),
    (["train", "{manifest}", "--out", "{out}", "--weights", "{missing}"], ["nothere.pth", "weights not found"]),
    (["score-events", "{missing}", "{manifest}", "--out", "{out}"], ["nothere.pth", "windows file not found"]),
    (["pretrain", "supervised", "--out", "{out}", "--renderers", "photo,crayon"], ["renderer='crayon'"]),
    (["pretrain", "supervised", "--out", "{out}", "--invariance", "1", "--renderers", "photo"], ["invariance=1.0", "two renderers"]),
    (["pretrain", "mae", "{video}", "--out", "{out}", "--mask-ratio", "1"], ["mask_ratio=1.0"]),
    (["pretrain", "mae", "{video}", "--out", "{out}", "--preset", "huge"], ["unknown preset 'huge'"]),
    (["cv", "{manifest}", "--out", "{out}", "--preset", "huge"], ["unknown preset 'huge'"]),
    (["train", "{manifest}", "--out", "{out}", "--config", "{missing}"], ["nothere.pth", "config file not found"]),
    (["evaluate", "{folder}", "{manifest}", "--out", "{out}"], [" is not a spasmscope model"]),
    (["screen", "{folder}", "{video}", "--out", "{out}"], [" is not a spasmscope model"]),
    (["evaluate", "{broken}", "{manifest}", "--out", "{out}"], ["config.json", "is not a spasmscope model config"]),
    (["review", "export", "{folder}", "--out", "{out}"], ["is not a run to review"]),
    (["screen", "{model}", "{video}", "--out", "{out}", "--detector", "{missing}"], ["nothere.pth", "ONNX detector file not found"]),
    (["screen", "{model}", "{video}", "--out", "{out}", "--detector", "{manifest}"], ["ok.csv", "is not a loadable ONNX model"]),
    (["demo", "--out", "{out}", "--epochs", "0"], ["epochs=0"]),
    (["train", "{manifest}", "--out", "{out}", "--calibrate-with", "{folder}"], ["is not a finished cv run"]),
    (["review", "{folder}", "--no-browser"], ["is not a run to review"]),
    (["cv", "{manifest}", "--out", "{out}", "--folds", "1"], ["folds=1", "at least 2 folds"]),
    (["cv", "{manifest}", "--out", "{out}"], ["ok.csv", "1 children with spasms", "5-fold"]),
    (["train", "{manifest}", "--out", "{out}", "--preset", "paper"], ["the paper preset fine-tunes", "--weights hub"]),
    (["evaluate", "{model}", "{manifest}", "--out", "{out}", "--threshold", "2"], ["threshold=2.0"]),
    (["demo", "--out", "{out}", "--children", "1"], ["children=1", "5-fold"]),
    (["synth", "{out}", "--children", "-1", "--healthy", "2"], ["children=-1"]),
    (["synth", "{out}", "--long-minutes", "-1"], ["long_minutes=-1.0"]),
]


def test_a_bad_input_is_told_before_torch_loads(folder, tmp_path):
    manifest = tmp_path / "ok.csv"
    manifest.write_text(f"video,child,start,label\n{folder / 'good.mp4'},c1,0,1\n")
    broken = tmp_path / "broken"  # a model folder whose config.json was cut short
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"")
    (broken / "config.json").write_text('{"spasmscope": "0.1.0", "config": {')
    names = {"missing": tmp_path / "nothere.pth", "video": folder / "good.mp4", "manifest": manifest, "folder": folder, "broken": broken, "model": embedded_backbone()}
    commands = [[a.format(out=tmp_path / f"run{k}", **names) for a in args] for k, (args, _) in enumerate(BAD_INPUTS)]
    runs = cli_runs(commands, modules=("torch", "sklearn", "matplotlib"))
    one_line_errors(runs, [[w.format(**names) for w in words] for _, words in BAD_INPUTS])
    # No command loads them (once one did, it would stay loaded for the rest: the first to load one is named).
    assert all(not run.loaded for run in runs), next((c, r.loaded) for c, r in zip(commands, runs, strict=True) if r.loaded)
    assert not list(tmp_path.glob("run*"))


@pytest.mark.parametrize("command", [["cv", "--folds", "2"], ["train"]])
def test_weights_that_do_not_load_are_told_before_any_segment_is_prepared(folder, tmp_path, command):
    # Preparing a cohort takes minutes to hours; a file that is not a checkpoint must not wait for it.
    manifest = tmp_path / "ok.csv"
    manifest.write_text(f"video,child,start,label\n{folder / 'good.mp4'},c1,0,1\n{folder / 'good.mp4'},c2,5,1\n{folder / 'good2.mp4'},c3,0,0\n")
    (tmp_path / "bad.pth").write_text("not a checkpoint\n")
    r = run_cli(command[0], str(manifest), "--out", str(tmp_path / "run"), "--weights", str(tmp_path / "bad.pth"), *command[1:])
    one_line_error(r, "bad.pth", "cannot be read as a PyTorch checkpoint")
    assert not (tmp_path / "run").exists()


def test_probe_videos_writes_video_and_segment_rows(folder, tmp_path):
    out = tmp_path / "t.csv"
    r = run_cli("probe", str(folder / "good.mp4"), str(folder / "good2.mp4"), "--out", str(out))
    assert r.returncode == 0, r.stderr
    import pandas as pd

    t = pd.read_csv(out)
    assert list(t.level).count("video") == 2
    seg = t[t.level == "segment"]
    # 11 s -> [0,5) [5,10) (the 1-s tail is kept: >= 1 s); 6 s -> [0,5) [5,6)
    assert sorted(zip(seg.path.str.rsplit("/", n=1).str[-1], seg.start, seg.end)) == [
        ("good.mp4", 0, 5),
        ("good.mp4", 5, 10),
        ("good.mp4", 10, 11),
        ("good2.mp4", 0, 5),
        ("good2.mp4", 5, 6),
    ]
    assert np.all(t.width == 160) and np.all(t.height == 96)
