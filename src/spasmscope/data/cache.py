"""The segment cache: each segment decoded and resized once, then read by every fold and epoch.

An entry is ``[K, T, S, S, 3] uint8`` (see ``preprocess.make_clips``) in ``ROOT/ab/<key>.npy``, where
the key hashes the video's content, the segment's start and end, and the ``ClipConfig`` (T, S, the
temporal and spatial modes, and whether the infant is cropped, with the crop's version). Content, not
path: a renamed or copied file hits the cache, and an edited file misses it. Entries are written
atomically, so a killed ``prepare`` leaves whole entries only and a re-run does just the missing ones.

An entry cut around the infant keeps, beside it in ``<key>.json``, what the localiser made of the segment (its
visibility and the size it looked at): Table 1 reads it there instead of decoding the segment and localising
again (METHOD §7, §8).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spasmscope import atomic
from spasmscope.data.batch import Skipped, default_workers, probe_manifest, run_jobs
from spasmscope.data.manifest import Manifest
from spasmscope.data.preprocess import ClipConfig, crop_clip, decode_size, working_size
from spasmscope.data.video import TARGET_FPS
from spasmscope.digests import content_digest
from spasmscope.errors import VideoError
from spasmscope.progress import Progress, counter

FORMAT_VERSION = 1  # bump when the stored arrays change meaning


class SegmentCache:
    """Decoded, resized segments on disk, keyed by (file content, start, end, ClipConfig)."""

    def __init__(self, root: str | os.PathLike, cfg: ClipConfig):
        self.root = Path(root)
        self.cfg = cfg
        self.root.mkdir(parents=True, exist_ok=True)
        self._digests_path = self.root / "digests.json"
        self._digests: dict[str, str] = json.loads(self._digests_path.read_text()) if self._digests_path.exists() else {}

    def digest(self, video: str | os.PathLike) -> str:
        """Content digest of ``video``; remembered per (path, size, modification time) so a large file
        is hashed once, not on every run."""
        st = os.stat(video)
        memo = f"{os.path.abspath(video)}|{st.st_size}|{st.st_mtime_ns}"
        if memo not in self._digests:
            self._digests[memo] = content_digest(video)
            atomic.write_json(self._digests_path, self._digests)
        return self._digests[memo]

    def key(self, digest: str, start: float, end: float) -> str:
        spec = {"file": digest, "start": round(float(start), 4), "end": round(float(end), 4), **self._settings()}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]

    def settings_digest(self) -> str:
        """16 hex digits for everything besides the segment that decides an entry (format, clip settings, crop
        version): lists of what a cache holds carry it, so that they go stale when their entries' keys do."""
        return hashlib.sha256(json.dumps(self._settings(), sort_keys=True).encode()).hexdigest()[:16]

    def _settings(self) -> dict:
        clip = self.cfg.as_dict()
        for added, default in (("steady", False), ("phases", 1)):
            if clip[added] == default:
                del clip[added]  # a setting added later: entries made before it keep their keys
        spec = {"v": FORMAT_VERSION, "clip": clip}
        if self.cfg.crop_infant:
            from spasmscope.data.localise import CROP_VERSION

            spec["crop"] = CROP_VERSION
        return spec

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        """The cached clips ``[K, T, S, S, 3] uint8``, or ``None`` when absent."""
        p = self.path(key)
        return np.load(p) if p.exists() else None

    def put(self, key: str, clips: np.ndarray, localised: Localised | None = None) -> None:
        """Store an entry; what the localiser found (``localised``) goes first, so a finished ``.npy`` has it."""
        if localised is not None:
            atomic.write_json(self.path(key).with_suffix(".json"), {"visibility": localised.visibility, "size": list(localised.size)})
        with atomic.atomic_path(self.path(key)) as tmp, open(tmp, "wb") as f:
            np.save(f, clips)

    def localised(self, manifest: Manifest) -> dict[tuple[str, float, float], Localised]:
        """What the localiser found in each segment of ``manifest`` (path, start, end) that was prepared cut around
        the infant; segments of other entries, and of entries made before it was kept, are left out."""
        found: dict[tuple[str, float, float], Localised] = {}
        for row in manifest.rows.itertuples(index=False):
            if not os.path.exists(row.path):
                continue
            side = self.path(self.key(self.digest(row.path), row.start, row.end)).with_suffix(".json")
            if side.exists():
                d = json.loads(side.read_text())
                found[(row.path, float(row.start), float(row.end))] = Localised(float(d["visibility"]), (int(d["size"][0]), int(d["size"][1])))
        return found


@dataclass(frozen=True)
class Localised:
    """What the localiser made of a segment decoded at ``size`` (width, height): how sure it is the infant is in view."""

    visibility: float  # 0-1
    size: tuple[int, int]  # upright decode size the localiser looked at


@dataclass(frozen=True)
class _Job:
    video: str
    start: float
    end: float
    key: str
    size: tuple[int, int]
    root: str
    cfg: ClipConfig


def _decode_job(job: _Job) -> None:
    from spasmscope.data.video import read_segment

    clips, localised = localised_clips(read_segment(job.video, job.start, job.end, size=job.size), job.cfg)
    SegmentCache(job.root, job.cfg).put(job.key, clips, localised)


def segment_clips(video: str, start: float, end: float, size: tuple[int, int], cfg: ClipConfig) -> np.ndarray:
    """One segment as model clips ``[K, T, S, S, 3] uint8``. ``size`` is the upright decode size: ``decode_size``
    of the video, or ``working_size`` when ``cfg.crop_infant`` cuts the segment around the infant first."""
    from spasmscope.data.video import read_segment

    return frames_to_clips(read_segment(video, start, end, size=size), cfg)


def frames_to_clips(frames: np.ndarray, cfg: ClipConfig) -> np.ndarray:
    """A segment's frames ``[N, H, W, 3] uint8`` (30 fps, at the size ``segment_clips`` decodes at) -> model clips
    ``[K, T, S, S, 3] uint8``: cut around the infant (``cfg.crop_infant``), steadied and resized as every decoded
    segment is. Frames drawn by the generator go through it too, to measure what decoding adds."""
    return localised_clips(frames, cfg)[0]


def localised_clips(frames: np.ndarray, cfg: ClipConfig) -> tuple[np.ndarray, Localised | None]:
    """``frames_to_clips``, and what the localiser found when ``cfg.crop_infant`` has it cut the segment (else None)."""
    if not cfg.crop_infant:
        # The whole frame, already at its decode size: crop_clip only steadies it (cfg.steady) and makes the clips.
        return crop_clip(frames, (0, 0, frames.shape[2], frames.shape[1]), cfg), None
    from spasmscope.data.localise import MotionLocaliser

    found = MotionLocaliser().update(frames, TARGET_FPS)
    return crop_clip(frames, found.crop, cfg), Localised(float(found.visibility), (frames.shape[2], frames.shape[1]))


@dataclass(frozen=True)
class PrepareResult:
    total: int  # segments in the manifest
    decoded: int  # decoded in this run
    cached: int  # already in the cache
    skipped: Skipped  # videos and segments left out, with reasons

    @property
    def left_out(self) -> int:
        """Segments neither decoded nor cached: counted from the others, as a skipped item is a whole video or a
        single segment."""
        return self.total - self.decoded - self.cached


def prepare(
    manifest: Manifest,
    cache_root: str | os.PathLike,
    cfg: ClipConfig,
    workers: int | None = None,
    strict: bool = False,
    progress: Progress | None = None,
) -> PrepareResult:
    """Decode and resize every segment of ``manifest`` into the cache, once, on ``workers`` processes.

    Bad videos are skipped and reported (fatal with ``strict``); segments already cached are not
    decoded again. ``progress`` counts segments (stage ``prepare segments``).
    """
    cache = SegmentCache(cache_root, cfg)
    skipped = Skipped()
    infos = probe_manifest(manifest, strict, skipped)
    jobs: list[_Job] = []
    cached = 0
    for row in manifest.rows.itertuples(index=False):
        info = infos.get(row.path)
        if info is None:
            continue
        key = cache.key(cache.digest(row.path), row.start, row.end)
        if cache.path(key).exists():
            cached += 1
            continue
        size = (working_size if cfg.crop_infant else decode_size)(info.width, info.height, cfg)
        jobs.append(_Job(row.path, float(row.start), float(row.end), key, size, str(cache.root), cfg))

    decoded = 0
    advance = counter(progress, "prepare segments", len(jobs) + cached, cached)

    def on_done(job: _Job, _result, error: BaseException | None) -> None:
        nonlocal decoded
        if error is not None:
            if strict:
                raise error
            skipped.add(f"{job.video} {job.start:g}-{job.end:g} s", str(error))
        else:
            decoded += 1
        advance()

    run_jobs(_decode_job, jobs, workers or default_workers(), on_done)
    return PrepareResult(total=len(manifest.rows), decoded=decoded, cached=cached, skipped=skipped)


def load_clips(cache: SegmentCache, video: str, start: float, end: float) -> np.ndarray:
    """Cached clips of a segment; ``VideoError`` when it was never prepared."""
    clips = cache.get(cache.key(cache.digest(video), start, end))
    if clips is None:
        raise VideoError(video, f"segment {start:g}-{end:g} s is not in the cache {cache.root}", "run `spasmscope prepare` on this manifest first")
    return clips
