"""Scale-out on a real local Ray (started here on 127.0.0.1 with 2 CPUs) and real DDP (gloo, 2 processes under
torchrun): outputs equal the serial runs', a killed driver or worker loses nothing, Ray stays optional."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli, tiny_config

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent

def _tiny(folder: Path, epochs: int = 4, batch: int = 4) -> Path:
    return tiny_config(folder, epochs, batch, lr=1e-3)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(*args: str, timeout: int) -> subprocess.CompletedProcess:
    """Two local processes under torchrun (gloo on 127.0.0.1, a free port, one thread each), run to the end."""
    cmd = [str(BIN / "torchrun"), "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory):
    """A Ray head on 127.0.0.1 with 2 CPUs and token authentication (its drivers find the token in ~/.ray and are
    told to use it by ``RAY_AUTH_MODE``), stopped after the module."""
    port = _free_port()
    mode = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "token"  # for the cluster and for every driver the tests start
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    if not (Path.home() / ".ray" / "auth_token").exists():
        subprocess.run([str(BIN / "ray"), "get-auth-token", "--generate"], capture_output=True, env=env, timeout=60, check=True)
    start = [str(BIN / "ray"), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "2", "--num-gpus", "0",
             "--include-dashboard", "false", "--disable-usage-stats"]  # fmt: skip
    r = subprocess.run(start, capture_output=True, text=True, env=env, timeout=180)
    assert r.returncode == 0, r.stderr
    yield f"127.0.0.1:{port}"
    subprocess.run([str(BIN / "ray"), "stop", "--force"], capture_output=True, timeout=120)
    if mode is None:
        del os.environ["RAY_AUTH_MODE"]
    else:
        os.environ["RAY_AUTH_MODE"] = mode


def _cv(manifest: Path, out: Path, config: Path, cache: Path, *extra: str) -> list[str]:
    return ["cv", str(manifest), "--out", str(out), "--config", str(config), "--folds", "3", "--cache", str(cache), "--no-table1", "--seed", "5", *extra]


def test_cv_on_ray_equals_the_serial_run_and_resumes_after_the_driver_is_killed(small_cohort, ray_address, tmp_path):
    config, cache, manifest = _tiny(tmp_path), tmp_path / "cache", small_cohort / "manifest.csv"
    r = run_cli(*_cv(manifest, tmp_path / "serial", config, cache))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "on-ray"
    driver = subprocess.Popen([str(BIN / "spasmscope"), *_cv(manifest, out, config, cache, "--ray", ray_address)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list(out.glob("fold-*/predictions.csv")) and time.time() < deadline and driver.poll() is None:
        time.sleep(0.05)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    kept = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("fold-*/predictions.csv")}
    assert 1 <= len(kept) < 3, f"the kill should land between the first and the last fold: {sorted(kept)}"
    r = run_cli(*_cv(manifest, out, config, cache, "--ray", ray_address))
    assert r.returncode == 0, r.stderr
    assert all(f"fold {name[-1]}/3: done earlier, kept" in r.stderr for name in kept)
    assert {name: (out / name / "predictions.csv").stat().st_mtime_ns for name in kept} == kept
    # The run folder is the serial one's: the same files, and every fold's predictions equal to the serial run's.
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if "cache" not in p.parts) == sorted(
        p.relative_to(tmp_path / "serial").as_posix() for p in (tmp_path / "serial").rglob("*") if "cache" not in p.parts
    )
    for k in (1, 2, 3):
        pd.testing.assert_frame_equal(pd.read_csv(out / f"fold-{k}" / "predictions.csv"), pd.read_csv(tmp_path / "serial" / f"fold-{k}" / "predictions.csv"))
    pd.testing.assert_frame_equal(pd.read_csv(out / "predictions.csv"), pd.read_csv(tmp_path / "serial" / "predictions.csv"))


# The driver of the screening runs: the library's `screen`, with a localiser that forgets within 50 s (memory of
# 20 windows at hop 2.5 s), so the 30-s chunks of a 90-s recording start after a real warm-up, longer than a chunk.
SCREEN = """
import sys
from pathlib import Path
from spasmscope.data.localise import LocaliseConfig
from spasmscope.data.windows import WindowConfig
from spasmscope.screening.screen import ScreenConfig, screen

model, out, ray, *videos = sys.argv[1:]
cfg = ScreenConfig(WindowConfig(localise=LocaliseConfig(decay=0.5)))
result = screen(Path(model), videos, Path(out), cfg, ray=ray or None, chunk_minutes=0.5)
for path, reason in result.skipped:
    print(f"skipped: {path}: {reason}", file=sys.stderr)
"""


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Two 90-second synthetic recordings and a tiny random model."""
    import torch

    from spasmscope.data.preprocess import ClipConfig
    from spasmscope.model.architecture import HieraConfig
    from spasmscope.model.config import RunConfig, TrainConfig
    from spasmscope.model.hiera import Hiera
    from spasmscope.model.weights import save_model
    from spasmscope.synth import SynthConfig, generate

    root = tmp_path_factory.mktemp("recordings")
    generate(SynthConfig(children=2, healthy=0, seed=8, long_minutes=1.5, long_count=2, videos_per_child=(1, 1), segments_per_video=(1, 1)), root / "cohort")
    torch.manual_seed(1)
    run = RunConfig("cpu", HieraConfig(input_size=(8, 32, 32), embed_dim=16, num_heads=1, stages=(1, 1, 1, 1)), ClipConfig(frames=8, size=32), TrainConfig())
    save_model(root / "model", Hiera(run.model), run, {})
    return root / "model", sorted(str(p) for p in (root / "cohort" / "long").glob("*.mp4"))


def _scorer_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"ray::Scorer"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def test_screen_on_ray_equals_the_serial_run_when_a_worker_is_killed(recordings, ray_address, tmp_path):
    model, videos = recordings
    assert len(videos) == 2
    serial = subprocess.run([sys.executable, "-c", SCREEN, str(model), str(tmp_path / "serial"), "", *videos], capture_output=True, text=True, timeout=600)
    assert serial.returncode == 0, serial.stderr
    # A third recording that vanishes once the run has begun (as a worker that cannot see it would find): its
    # chunks fail twice, it is reported, and the rest finishes.
    doomed = tmp_path / "doomed.mp4"
    doomed.write_bytes(Path(videos[0]).read_bytes())
    out = tmp_path / "on-ray"
    driver = subprocess.Popen([sys.executable, "-c", SCREEN, str(model), str(out), ray_address, *videos, str(doomed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not _scorer_pids() and time.time() < deadline and driver.poll() is None:
        time.sleep(0.02)
    doomed.unlink()  # the scorers start once the recordings are probed and named
    # The scoring worker is killed once the first recording is written, with the second one's chunks in flight.
    while not list(out.glob("recordings/*/windows.csv")) and time.time() < deadline and driver.poll() is None:
        time.sleep(0.02)
    killed = _scorer_pids()
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    _, stderr = driver.communicate(timeout=600)
    assert driver.returncode == 0, stderr
    assert killed, "a scoring worker should have been found and killed mid-run"
    assert f"skipped: {doomed}: failed twice on Ray" in stderr and "is not visible from the Ray worker" in stderr and stderr.count("skipped:") == 1, stderr
    a, b = pd.read_csv(tmp_path / "serial" / "windows.csv"), pd.read_csv(out / "windows.csv")
    assert not b.duplicated(["video", "start"]).any(), "every window is written once"
    pd.testing.assert_frame_equal(a, b)
    assert len(list((out / "recordings").glob("*/windows.csv"))) == 2


def test_ray_is_optional(small_cohort, tmp_path):
    # Importing spasmscope and running its commands imports no Ray.
    r = subprocess.run([sys.executable, "-c", "import sys, spasmscope.cli, spasmscope.study.validate, spasmscope.screening.screen, spasmscope.screening.recording; print('ray' in sys.modules)"],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr
    # Where Ray is not installed (a package named ray that fails to import stands in), --ray says how to install it.
    shadow = tmp_path / "shadow" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    env = {**os.environ, "PYTHONPATH": str(shadow.parent)}
    cmd = [str(BIN / "spasmscope"), "cv", str(small_cohort / "manifest.csv"), "--out", str(tmp_path / "run"), "--ray", "local"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and "--ray needs Ray" in r.stderr and "pip install 'spasmscope[ray]'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()


def _weights(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(folder / "model.safetensors"))


def test_two_ddp_processes_with_half_batches_end_an_epoch_with_the_single_process_weights(small_cohort, tmp_path):
    # Batch 3 over 2 processes: shares of 2 and 1, and a last batch of 1 row that leaves one process a weightless row.
    # Plain SGD (momentum only): a step is proportional to its gradient, so the two runs' weights differ by float
    # rounding alone (Adam scales every step to about lr, which lifts a near-zero gradient's rounding to a share of lr).
    config = tiny_config(tmp_path, epochs=1, batch=3, lr=1e-2, optimizer="sgd")
    cache, manifest = tmp_path / "cache", small_cohort / "manifest.csv"
    args = ["train", str(manifest), "--config", str(config), "--cache", str(cache), "--weights", "none"]
    r = run_cli(*args, "--out", str(tmp_path / "one"))
    assert r.returncode == 0, r.stderr
    r = _torchrun("-m", "spasmscope", *args, "--out", str(tmp_path / "two"), timeout=600)
    assert r.returncode == 0, r.stderr
    one, two = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert one.keys() == two.keys()
    # Float rounding of the all-reduce (6e-8 seen); a process's gradient share left out, or a batch split wrongly,
    # moves weights by a share of the epoch's movement.
    assert max(float(np.abs(one[k] - two[k]).max()) for k in one) < 1e-6
    # The epoch moved the weights far more than that, so the equality says something.
    from spasmscope.model.config import load_config
    from spasmscope.model.hiera import Hiera

    import torch

    torch.manual_seed(load_config("cpu", config).train.seed)
    start = {k: v.numpy() for k, v in Hiera(load_config("cpu", config).model).state_dict().items()}
    assert max(float(np.abs(one[k] - start[k]).max()) for k in one) > 1e-2  # 0.047 seen
    # Process 0 wrote the model and the log (one line per epoch, the global figures); process 1 wrote nothing.
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    lines = [pd.read_json(p, lines=True) for p in (tmp_path / "one" / "train.jsonl", tmp_path / "two" / "train.jsonl")]
    assert len(lines[1]) == 1 and lines[1]["clips"][0] == lines[0]["clips"][0] and lines[1]["loss"][0] == pytest.approx(lines[0]["loss"][0], abs=1e-6)
    assert r.stdout.count("trained cpu model") == 1


def test_cv_under_torchrun_trains_each_fold_over_two_processes_with_the_serial_predictions(small_cohort, tmp_path):
    config, cache, manifest = _tiny(tmp_path, epochs=2, batch=4), tmp_path / "cache", small_cohort / "manifest.csv"
    args = ["cv", str(manifest), "--config", str(config), "--cache", str(cache), "--folds", "2", "--no-table1", "--weights", "none"]
    r = run_cli(*args, "--out", str(tmp_path / "one"))
    assert r.returncode == 0, r.stderr
    r = _torchrun("-m", "spasmscope", *args, "--out", str(tmp_path / "two"), timeout=600)
    assert r.returncode == 0, r.stderr
    one, two = pd.read_csv(tmp_path / "one" / "predictions.csv"), pd.read_csv(tmp_path / "two" / "predictions.csv")
    pd.testing.assert_frame_equal(one.drop(columns="score"), two.drop(columns="score"))
    assert np.abs(one["score"] - two["score"]).max() < 1e-5 and one["score"].std() > 1e-4
    assert r.stdout.count("pooled: auc") == 1  # one report, from process 0


def test_processes_that_joined_a_job_leave_it_without_aborting_at_exit(tmp_path):
    # Without leaving the process group, about half of such runs end in SIGABRT ("terminate called without an active
    # exception") once the work is done: gloo's threads outlive the interpreter's teardown. Ten runs in a row.
    script = tmp_path / "job.py"
    script.write_text("import torch, torch.distributed as dist\nfrom spasmscope.model import distributed\n"
                      "distributed.start_from_env()\nt = torch.ones(1000)\ndist.all_reduce(t)\nassert t[0] == 2\n")  # fmt: skip
    for _ in range(10):
        r = _torchrun(str(script), timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
