"""Screening whole recordings (METHOD §6 event level, §7, §8): 5-s windows every ``hop`` seconds, the infant
found and cropped, a quality gate, the model's score, and the detections a clinician should review.

A window is ``valid=0`` with its ``reason`` when it cannot be read (the file ends or breaks before it), is
too dark, has its lighting switched (its mean grey level jumps between sampled instants: a sudden change of the
whole picture is no spasm, yet drove the most confident false alarms of a 60-minute video-EEG recording), or
shows no infant (visibility below the limit); it is not scored, and counts as deficiency time.

Every recording is probed before the model and its libraries load, so a file that cannot be read is reported
at once; each readable one is then screened in one pass (``screening.recording``).

Outputs of ``screen`` under ``--out``: ``windows.csv``, ``events.csv``, ``timelines/*.png``, ``report.html``,
and ``recordings/*/windows.csv`` per finished recording, so an interrupted run resumes at the first
recording it had not finished.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from spasmscope import __version__, atomic
from spasmscope.data.batch import Skipped, probe_all
from spasmscope.data.localise import CROP_VERSION
from spasmscope.data.segments import SEGMENT_S, window_spans
from spasmscope.data.video import picture_note
from spasmscope.data.windows import WindowConfig
from spasmscope.digests import content_digest
from spasmscope.errors import InputError, SettingError
from spasmscope.progress import Progress, counter
from spasmscope.screening.events import detections
from spasmscope.screening.runs import EVENTS_FILE, RECORDINGS, SCREEN_FILE, WINDOWS_FILE, read_windows

if TYPE_CHECKING:
    from spasmscope.model.config import RunConfig

VIEWS = ("model", "one", "flips")


@dataclass(frozen=True)
class ScreenConfig:
    """How recordings are screened; part of a screening run's identity (``screen.json``)."""

    windows: WindowConfig = field(default_factory=WindowConfig)  # how windows are cut, cropped and gated
    threshold: float = 0.5  # a valid window scoring at or above it is positive
    merge_gap: float = 0.0  # seconds: positive windows this close form one detection
    batch_size: int = 16  # windows per forward pass
    views: str = "model"  # model: as the model scores (its [train] test_flips) | one | flips (four flipped views)

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise SettingError(f"threshold={self.threshold}", "a probability threshold must be strictly between 0 and 1")
        if self.views not in VIEWS:
            raise SettingError(f"views={self.views!r}", f"use one of {', '.join(VIEWS)}")

    def flips(self, run: RunConfig) -> bool:
        """Whether windows are scored in the four flipped views (``inference.score_clips``)."""
        return run.train.test_flips if self.views == "model" else self.views == "flips"

    def as_dict(self) -> dict:
        return asdict(self)


def recording_key(path: str, cfg: ScreenConfig, model_sha: str) -> str:
    """Folder name of a recording's finished windows: its name and a digest of its content, the settings and
    the model, so a changed file or setting is screened again."""
    h = hashlib.blake2b(digest_size=8)
    h.update(f"{content_digest(path)}|{cfg.as_dict()}|{model_sha}|crop {CROP_VERSION}".encode())
    return f"{Path(path).stem[:40]}-{h.hexdigest()}"


@dataclass
class ScreenResult:
    windows: pd.DataFrame  # every window of every readable recording
    events: pd.DataFrame  # detections: video, onset, offset, peak_score, peak_time, first_alarm
    skipped: list[tuple[str, str]]  # (file, reason) of recordings that could not be opened
    report: Path  # report.html
    notes: list[tuple[str, str]]  # (file, note) of recordings whose picture stops before the file does


def screen(model_dir: Path, videos: list[str], out: Path, cfg: ScreenConfig, strict: bool = False, progress: Progress | None = None,
           events: Path | None = None, ray: str | None = None, chunk_minutes: float = 20.0) -> ScreenResult:  # fmt: skip
    """Screen ``videos`` with the model in ``model_dir``; writes the outputs listed in the module docstring and
    returns them. A recording finished by an earlier run with the same settings and model is read back.
    ``progress`` counts windows (stage ``screen windows``); ``events`` (CSV of annotated spasms) are marked on the
    timelines. With ``ray`` (an address, ``cluster.connect``) the unfinished recordings go through a Ray cluster in
    chunks of ``chunk_minutes`` (``screening.on_ray``); a recording that fails there twice is skipped."""
    from spasmscope.data.manifest import read_events
    from spasmscope.digests import sha256
    from spasmscope.model.folder import MODEL_FILE, read_model_config
    from spasmscope.screening.events import align_videos

    read_model_config(model_dir)  # a folder that holds no model is told before any recording is probed
    if cfg.windows.detector:
        cfg.windows.localiser()  # and so is a detector that does not load; each recording's pass loads its own
    reference = None if events is None else align_videos(read_events(events), videos, events.parent)
    skipped = Skipped()
    infos = probe_all(videos, strict, skipped)
    if not infos:
        raise InputError(videos[0] if len(videos) == 1 else None, "no readable recording", "check the files listed above")
    # Torch, the model and matplotlib load only now: a file that cannot be read is reported without waiting for them.
    from spasmscope.model.weights import load_model
    from spasmscope.screening.recording import screen_video
    from spasmscope.screening.report import write_screen_report

    model, run, meta = load_model(model_dir)
    model_sha = sha256(Path(model_dir) / MODEL_FILE)
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_json(out / SCREEN_FILE, {"spasmscope": __version__, "model": str(model_dir), "model_sha256": model_sha, "config": cfg.as_dict(), "videos": videos})
    finished = {p: out / RECORDINGS / recording_key(p, cfg, model_sha) / WINDOWS_FILE for p in infos}
    counts = {p: len(window_spans(i.duration, SEGMENT_S, cfg.windows.hop)) for p, i in infos.items()}
    advance = counter(progress, "screen windows", sum(counts.values()), sum(counts[p] for p in infos if finished[p].exists()))
    for folder in [out, *out.glob(f"{RECORDINGS}/*")]:
        atomic.clear_leftovers(folder)  # what writers of a killed run left half-written
    tables = {p: read_windows(f) for p, f in finished.items() if f.exists()}
    todo = [p for p in infos if p not in tables]
    if ray is None:
        for path in todo:
            tables[path] = screen_video(model, run, infos[path], cfg, advance, meta.get("temperature", 1.0))
            atomic.write_csv(finished[path], tables[path])  # a recording is finished once this file exists
    else:
        from spasmscope.screening.on_ray import recordings_on_ray

        for path, table in recordings_on_ray(ray, Path(model_dir), {p: infos[p] for p in todo}, cfg, run.clip, chunk_minutes, advance):
            if isinstance(table, str):
                skipped.add(path, table)
                continue
            tables[path] = table
            atomic.write_csv(finished[path], table)
    if not tables:
        raise InputError(None, "no recording could be screened", "see the lines above")
    windows = pd.concat([tables[p] for p in infos if p in tables], ignore_index=True)
    found = [detections(g, cfg.threshold, cfg.merge_gap).assign(video=v) for v, g in windows.groupby("video", sort=False)]
    detected = pd.concat(found, ignore_index=True)[["video", "onset", "offset", "peak_score", "peak_time", "first_alarm"]]
    atomic.write_csv(out / WINDOWS_FILE, windows)
    atomic.write_csv(out / EVENTS_FILE, detected)
    notes = [(p, note) for p, i in infos.items() if p in tables and (note := picture_note(i))]
    return ScreenResult(windows, detected, skipped.items, write_screen_report(out, cfg.threshold, reference), notes)
