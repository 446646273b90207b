"""Shared test helpers: real video files made with PyAV, and FFmpeg's own reading of them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

# Under pytest-xdist (`make test` runs one worker per core), each worker and the commands it starts get their share
# of the cores: torch's default of a thread per core in every worker would have the workers fight over them.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))

from spasmscope.data.writer import VideoWriter  # noqa: E402

BITS = 8  # frame index encoded as 8 black/white stripes: survives lossy compression


# Under xdist each test file runs whole on one worker, and files start in collection order (`make test` passes
# --no-loadscope-reorder). The longest files go first, so that no worker is left running one of them while the
# other has nothing to do (longest-processing-time-first scheduling); the rest keep their alphabetical order.
LONGEST_FIRST = ("test_documented_commands.py", "test_screen.py", "test_scale_out.py", "test_synth.py", "test_study.py", "test_review_station.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's tests keep their order


def interrupt_after(units: int):
    """A ``progress(stage, done, total)`` that raises KeyboardInterrupt once ``units`` units are done, as Ctrl-C
    would mid-run."""

    def progress(stage: str, done: int, total: int) -> None:
        if done == units:
            raise KeyboardInterrupt

    return progress


def index_frame(k: int, width: int, height: int) -> np.ndarray:
    """An RGB frame whose top half encodes ``k % 256`` in binary stripes; bottom half a colour ramp."""
    img = np.zeros((height, width, 3), np.uint8)
    stripe = width // BITS
    for b in range(BITS):
        if (k >> b) & 1:
            img[: height // 2, b * stripe : (b + 1) * stripe] = 255
    img[height // 2 :, :, 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    img[height // 2 :, :, 2] = 90
    return img


def read_index(frame: np.ndarray) -> int:
    """Inverse of ``index_frame`` for an upright decoded frame."""
    h, w = frame.shape[:2]
    stripe = w // BITS
    top = frame[: h // 2].mean(axis=2)
    return sum(1 << b for b in range(BITS) if top[h // 8 : h * 3 // 8, b * stripe + stripe // 4 : (b + 1) * stripe - stripe // 4].mean() > 127)


def make_video(
    path: Path,
    n_frames: int,
    width: int = 160,
    height: int = 96,
    fps: float | Fraction = 30,
    codec: str = "libx264",
    rotation: int = 0,
    times: list[float] | None = None,
    gop: int | None = None,
) -> Path:
    """Write ``n_frames`` index frames. ``rotation`` stores them turned back with a display matrix, so
    the upright picture is ``width x height``; ``times`` (seconds) makes a variable-frame-rate file."""
    coded_w, coded_h = (height, width) if rotation in (90, 270) else (width, height)
    with VideoWriter(path, coded_w, coded_h, fps=fps, codec=codec, crf=12, rotation=rotation, gop=gop, variable_rate=times is not None) as w:
        for k in range(n_frames):
            frame = index_frame(k, width, height)
            if rotation:
                frame = np.rot90(frame, -(rotation // 90))
            w.write(frame, t=None if times is None else times[k])
    return path


# Files that are not readable videos, each with the words its one-line error must hold (``write_bad_videos``).
BAD_VIDEOS = [
    ("missing.mp4", ["missing.mp4", "file not found"]),
    ("empty.mp4", ["empty.mp4", "empty (0 bytes)"]),
    ("truncated.mp4", ["truncated.mp4", "truncated"]),
    ("text.mp4", ["text.mp4", "not a readable video"]),
    ("audio.mp4", ["audio.mp4", "no video stream"]),
]


def write_bad_videos(folder: Path, good: Path) -> None:
    """Write ``BAD_VIDEOS`` but the missing one into ``folder``; the truncated file is the first half of ``good``."""
    (folder / "empty.mp4").write_bytes(b"")
    data = good.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (folder / "text.mp4").write_text("not a video\n" * 50)
    make_audio_only(folder / "audio.mp4")


def make_audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=16000)
        samples = (np.sin(np.linspace(0, 200, 16000)) * 0.3).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_reading(path: Path) -> dict:
    """What FFmpeg's own command-line tool reports (an independent build, from imageio-ffmpeg)."""
    text = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    h, m, s = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text).groups()
    stream = next(line for line in text.splitlines() if "Video:" in line)
    w, hh = map(int, re.search(r", (\d{2,5})x(\d{2,5})", stream).groups())
    fps = float(re.search(r", ([\d.]+) fps", stream).group(1))
    rot = re.search(r"rotation of (-?[\d.]+) degrees", text)
    rotation = int(round(float(rot.group(1)))) % 360 if rot else 0
    if rotation in (90, 270):
        w, hh = hh, w
    return {"duration": int(h) * 3600 + int(m) * 60 + float(s), "width": w, "height": hh, "fps": fps, "rotation": rotation, "codec": stream.split("Video: ")[1].split()[0]}


def ffmpeg_decode(path: Path, width: int, height: int, n: int) -> np.ndarray:
    """The first ``n`` upright frames as FFmpeg's tool decodes them (it applies rotation itself)."""
    raw = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-frames:v", str(n), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(n, height, width, 3)


TINY_TOML = """
[model]
input_size = [8, 32, 32]
embed_dim = 16
stages = [1, 1, 1, 1]
[clip]
frames = 8
size = 32
[train]
epochs = {epochs}
batch_size = {batch}
{extra}"""


def tiny_config(folder: Path, epochs: int = 4, batch: int = 4, lr: float | None = None, optimizer: str | None = None) -> Path:
    """A TOML config of a tiny Hiera on 8 x 32 x 32 clips: the whole pipeline runs, quickly, with the real model."""
    path = folder / f"tiny-{epochs}-{batch}-{lr}-{optimizer}.toml"
    extra = ("" if lr is None else f"lr = {lr}\n") + ("" if optimizer is None else f'optimizer = "{optimizer}"\n')
    path.write_text(TINY_TOML.format(epochs=epochs, batch=batch, extra=extra))
    return path


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real ``spasmscope`` console script of this environment."""
    exe = Path(sys.executable).with_name("spasmscope")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


class CliRun(NamedTuple):
    """What one command of ``cli_runs`` did."""

    code: int  # exit status
    loaded: set[str]  # the modules asked about that were loaded when it ended
    stderr: str


def one_line_errors(runs: list[CliRun], words: list[list[str]]) -> None:
    """Each command exited 2 with one line on stderr, no traceback, holding its ``words``; every command is checked
    before any failure is reported."""
    wrong = []
    for k, (run, expected) in enumerate(zip(runs, words, strict=True)):
        lines = run.stderr.splitlines()  # no blank line either: a refusal before the work draws no empty progress display
        if run.code != 2 or len(lines) != 1 or "Traceback" in run.stderr or not all(w in lines[0] for w in expected):
            wrong.append(f"command {k} (expected exit 2 and one line with {expected}): exit {run.code}, stderr {run.stderr[-800:]!r}")
    assert not wrong, "\n".join(wrong)


def one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    """``one_line_errors`` for one command run by ``run_cli``."""
    one_line_errors([CliRun(r.returncode, set(), r.stderr)], [list(words)])


_CLI_RUNS = """
import json, sys, traceback
from spasmscope.cli import main
commands, modules, mark = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
done = []
for args in commands:
    print(mark, file=sys.stderr, flush=True)
    sys.argv = ["spasmscope", *args]
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except Exception:  # a traceback, as the console script would print it; the next command still runs
        traceback.print_exc()
        code = 1
    sys.stderr.flush()
    done.append([code, [m for m in modules if m in sys.modules]])
print(json.dumps(done))
"""


def cli_runs(commands: list[list[str]], modules: tuple[str, ...] = ()) -> list[CliRun]:
    """Run each command line in turn through the console script's ``main``, in one fresh interpreter (one start-up
    for them all, where each takes most of a second): for each, its exit status, which of ``modules`` were loaded when
    it ended (``sys.modules``) and its stderr. A module one command loads stays loaded for the commands after it."""
    mark = "=== next command ==="
    r = subprocess.run([sys.executable, "-c", _CLI_RUNS, json.dumps(commands), json.dumps(list(modules)), mark], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip(), r.stderr[-3000:]
    done = json.loads(r.stdout.strip().splitlines()[-1])
    errs = r.stderr.split(mark + "\n")[1:]
    assert len(done) == len(errs) == len(commands), r.stderr[-3000:]
    return [CliRun(code, set(loaded), err) for (code, loaded), err in zip(done, errs, strict=True)]


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory) -> Path:
    """A small synthetic cohort (3 children with spasms, 2 healthy), written once per test session."""
    from spasmscope.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("small_cohort")
    generate(SynthConfig(children=3, healthy=2, seed=11, wide_fraction=0.3, night_fraction=0.3, segments_per_video=(2, 3)), out)
    return out


@pytest.fixture(scope="session")
def screened(tmp_path_factory) -> Path:
    """A real screening run of a short synthetic recording with a tiny random model, whose detections are reviewed.
    Shared by the session: a test that writes decisions reviews ``fresh_copy(screened, tmp_path)``."""
    import torch

    from spasmscope.data.preprocess import ClipConfig
    from spasmscope.data.windows import WindowConfig
    from spasmscope.model.architecture import HieraConfig
    from spasmscope.model.config import RunConfig, TrainConfig
    from spasmscope.model.hiera import Hiera
    from spasmscope.model.weights import save_model
    from spasmscope.screening.screen import ScreenConfig, screen
    from spasmscope.synth import SynthConfig, generate

    root = tmp_path_factory.mktemp("screened")
    generate(SynthConfig(children=1, healthy=0, seed=4, long_minutes=1.0, videos_per_child=(1, 1)), root / "cohort")
    torch.manual_seed(1)
    run = RunConfig("cpu", HieraConfig(input_size=(8, 32, 32), embed_dim=16, num_heads=1, stages=(1, 1, 1, 1)), ClipConfig(frames=8, size=32), TrainConfig())
    save_model(root / "model", Hiera(run.model), run, {})
    video = next((root / "cohort" / "long").glob("*.mp4"))
    windows = WindowConfig(hop=5.0, crop="none", min_visibility=0.0)
    scores = screen(root / "model", [str(video)], root / "first", ScreenConfig(windows)).windows["score"].dropna()
    # The random model's scores differ little: a threshold at their median leaves detections apart from each other.
    screen(root / "model", [str(video)], root / "run", ScreenConfig(windows, threshold=float(scores.median())))
    return root / "run"


def fresh_copy(run: Path, folder: Path) -> Path:
    """A copy of a run folder with no review in it (its recordings stay where they are)."""
    import shutil

    copy = folder / run.name
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("review.sqlite*", "review-clips"))
    return copy
