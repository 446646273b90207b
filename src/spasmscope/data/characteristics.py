"""Technical and visual characteristics of videos and segments (METHOD §7, the paper's Table 1).

- brightness: mean grey level (0-255) over sampled frames;
- night statistic: mean over pixels of the variance across the R, G, B channels; infrared night video
  is grey, so the statistic is near 0, and ``night = statistic < NIGHT_THRESHOLD``;
- motion: mean absolute grey-level difference of consecutive frames (at 30 fps);
- sharpness: variance of the Laplacian of the grey frame, averaged over sampled frames;
- visibility (segments only): the built-in infant localiser's confidence, 0-1 (METHOD §8).

Frames are sampled as pairs one 30-fps frame apart, at native resolution (sharpness depends on it),
so a characteristic costs a fixed number of decoded frames whatever the length of the span.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from spasmscope.data.segments import consecutive_spans
from spasmscope.data.video import TARGET_FPS, VideoInfo, picture_note, read_frames
from spasmscope.progress import Progress, counter

if TYPE_CHECKING:
    from spasmscope.data.cache import Localised

# Mean per-pixel variance across R, G, B (grey levels squared) below which a recording counts as
# infrared night video. Colour video of a scene lit by day or lamps lies well above 20 (a muted scene
# with channel differences of ~8 grey levels gives ~20); IR video is grey, with compression and
# noise keeping the statistic below ~5.
NIGHT_THRESHOLD = 20.0
PAIRS_PER_SEGMENT = 8  # frame pairs sampled in a segment
PAIRS_PER_VIDEO = 16  # frame pairs sampled across a whole video


@dataclass(frozen=True)
class Visual:
    brightness: float  # mean grey level, 0-255
    night_stat: float  # mean per-pixel variance across R, G, B (grey levels squared)
    night: bool  # night_stat < NIGHT_THRESHOLD
    motion: float  # mean |frame - previous frame| at 30 fps, grey levels
    sharpness: float  # variance of the Laplacian, grey levels squared


def grey(frames: np.ndarray) -> np.ndarray:
    """``[N, H, W, 3] uint8`` RGB -> ``[N, H, W] float32`` grey (ITU-R BT.601 luma, as OpenCV)."""
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]).astype(np.float32)


def brightness(frames: np.ndarray) -> float:
    """Mean grey level of ``[N, H, W, 3] uint8`` frames."""
    return float(grey(frames).mean())


def light_change(frames: np.ndarray) -> float:
    """Largest change of mean grey level between consecutive frames of ``[N, H, W, 3] uint8``, as a share of
    the brighter of the two (0 with fewer than two frames, or between black frames): 1 when a light is switched
    off in the dark; a moving infant changes a frame's mean by a few percent."""
    if len(frames) < 2:
        return 0.0
    means = grey(frames).mean(axis=(1, 2))
    step = np.abs(np.diff(means)) / np.maximum(np.maximum(means[:-1], means[1:]), 1.0)
    return float(step.max())


def night_statistic(frames: np.ndarray) -> float:
    """Mean over pixels (and frames) of the variance across the three colour channels of ``[N, H, W, 3] uint8``
    frames (nan for none)."""
    # Nine times a pixel's variance is 3 * (r² + g² + b²) - (r + g + b)², exact in integers; a frame at a time, from
    # OpenCV's channel split, this is about 15 times faster than numpy's var over an axis of three (which took most
    # of a probe's time).
    if frames.size == 0:
        return float("nan")
    nine_var = 0
    for frame in frames:
        r, g, b = (c.astype(np.int32) for c in cv2.split(np.ascontiguousarray(frame)))
        total = r + g + b
        nine_var += int((3 * (r * r + g * g + b * b) - total * total).sum(dtype=np.int64))
    return nine_var / (9 * (frames.size // 3))


def motion(first: np.ndarray, second: np.ndarray) -> float:
    """Mean absolute grey difference between frame pairs: ``first[i]`` and ``second[i]`` are consecutive."""
    return float(np.abs(grey(second) - grey(first)).mean())


def sharpness(frames: np.ndarray) -> float:
    """Mean over frames of the variance of the Laplacian (OpenCV, 64-bit) of the grey frame."""
    return float(np.mean([cv2.Laplacian(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for f in frames]))


def visual(first: np.ndarray, second: np.ndarray) -> Visual:
    """Characteristics from frame pairs ``first[i]``, ``second[i]`` one frame apart, ``[N, H, W, 3] uint8``."""
    stat = night_statistic(first)
    return Visual(
        brightness=brightness(first),
        night_stat=stat,
        night=stat < NIGHT_THRESHOLD,
        motion=motion(first, second),
        sharpness=sharpness(first),
    )


def pair_times(start: float, end: float, pairs: int) -> np.ndarray:
    """``2 * pairs`` ascending times: ``pairs`` evenly spread instants in ``[start, end)``, each followed
    by the instant one 30-fps frame later."""
    step = 1.0 / TARGET_FPS
    span = max(end - start - step, 0.0)
    firsts = start + span * (np.arange(pairs) + 0.5) / pairs
    return np.stack([firsts, firsts + step], axis=1).ravel()


def span_visual(path: str | os.PathLike, start: float, end: float, pairs: int) -> Visual:
    """Visual characteristics of ``[start, end)`` seconds of a video."""
    frames = read_frames(path, pair_times(start, end, pairs))
    return visual(frames[0::2], frames[1::2])


def video_row(info: VideoInfo) -> dict:
    """One table row for a whole video: technical fields from ``info`` plus visual characteristics."""
    row = {
        "level": "video",
        "path": info.path,
        "codec": info.codec,
        "width": info.width,
        "height": info.height,
        "rotation": info.rotation,
        "duration": round(info.duration, 3),
        "fps": round(info.fps, 3),
        "bitrate": info.bitrate,
        "frame_count": info.frame_count,
        "variable_frame_rate": int(info.variable_frame_rate),
        "interlaced": int(info.interlaced),  # deinterlaced when read
        "file_duration": round(info.file_duration, 3),  # more than duration: the rest of the file has no picture
        "note": picture_note(info),
    }
    row.update(_visual_fields(span_visual(info.path, 0.0, info.duration, PAIRS_PER_VIDEO)))
    return row


def segment_row(info: VideoInfo, start: float, end: float, known: Localised | None = None) -> dict:
    """One table row for a segment: the video's technical fields plus the segment's visual ones. ``known`` is what
    the localiser found in ``[start, end)`` when the segment was prepared (``SegmentCache.localised``): its visibility
    is used when it was found at the size ``segment_visibility`` decodes at, so the segment is not localised twice."""
    row = {
        "level": "segment",
        "path": info.path,
        "start": start,
        "end": end,
        "width": info.width,
        "height": info.height,
        "fps": round(info.fps, 3),
        "bitrate": info.bitrate,
    }
    row.update(_visual_fields(span_visual(info.path, start, min(end, info.duration), PAIRS_PER_SEGMENT)))
    # A segment that overruns the video is localised on its frames up to the end, which the cache's entry is not.
    same = known is not None and tuple(known.size) == visibility_size(info) and end <= info.duration
    row["visibility"] = round(known.visibility if same else segment_visibility(info, start, min(end, info.duration)), 4)
    return row


def visibility_size(info: VideoInfo) -> tuple[int, int]:
    """The upright decode size ``segment_visibility`` localises at: the working size screening uses."""
    from spasmscope.data.preprocess import ClipConfig, working_size

    return working_size(info.width, info.height, ClipConfig(size=64))


def segment_visibility(info: VideoInfo, start: float, end: float) -> float:
    """How sure the built-in localiser is that an infant is in view in ``[start, end)`` (0-1; METHOD §8), from
    the segment at the working size screening uses."""
    from spasmscope.data.localise import MotionLocaliser
    from spasmscope.data.video import read_segment

    frames = read_segment(info.path, start, end, size=visibility_size(info))
    return MotionLocaliser().update(frames, TARGET_FPS).visibility


def _visual_fields(v: Visual) -> dict:
    d = asdict(v)
    d["night"] = int(d["night"])
    return {k: (round(x, 4) if isinstance(x, float) else x) for k, x in d.items()}


# --- Table 1 -------------------------------------------------------------------------------------

VIDEO_COLUMNS = ["width", "height", "duration", "fps", "bitrate"]  # summarised over videos
SEGMENT_COLUMNS = ["brightness", "motion", "sharpness", "night"]  # summarised over segments
_NOT_EXTRA = {"video", "child", "start", "end", "label", "cohort", "level", "path", "codec", "rotation", "frame_count", "variable_frame_rate", "night_stat",
              "interlaced", "file_duration", "note"}  # fmt: skip


def cohort_table(table, manifest=None):
    """Table 1 in long form: one row per (cohort, variable) with n, median, q1, q3, min, max.

    ``table`` is the output of ``spasmscope probe`` over a manifest (``level`` video and segment rows,
    segment rows carrying the manifest's columns). Besides the characteristics it reports per cohort
    the children, the segments, segments per child and the spasm segments, and every extra numeric
    manifest column (views, likes, upload year, ...), summarised over videos.
    """
    import pandas as pd

    segments = table[table["level"] == "segment"]
    videos = table[table["level"] == "video"]
    if "cohort" not in segments.columns:
        segments = segments.assign(cohort="all")
    cohort_of_video = segments.groupby("path")["cohort"].first()
    videos = videos.assign(cohort=videos["path"].map(cohort_of_video).fillna("all"))
    # Manifest columns arrive as text: an extra column counts as numeric when all its filled cells are.
    extra = []
    for c in segments.columns:
        if c in _NOT_EXTRA or c in VIDEO_COLUMNS or c in SEGMENT_COLUMNS:
            continue
        filled = segments[c].replace("", np.nan).dropna()
        if len(filled) and pd.to_numeric(filled, errors="coerce").notna().all():
            extra.append(c)
    rows = []

    def summarise(cohort: str, name: str, values) -> None:
        v = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
        if len(v) == 0:
            return
        rows.append(
            {
                "cohort": cohort,
                "variable": name,
                "n": int(len(v)),
                "median": float(v.median()),
                "q1": float(v.quantile(0.25)),
                "q3": float(v.quantile(0.75)),
                "min": float(v.min()),
                "max": float(v.max()),
                "mean": float(v.mean()),
                "flag": bool(v.isin([0, 1]).all()),  # a 0/1 column: Table 1 shows its share
            }
        )

    for cohort, seg in segments.groupby("cohort", sort=True):
        vid = videos[videos["cohort"] == cohort]
        if "child" in seg.columns:
            per_child = seg.groupby("child").size()
            rows.append({"cohort": cohort, "variable": "children", "n": int(per_child.size)})
            summarise(cohort, "segments per child", per_child.values)
        rows.append({"cohort": cohort, "variable": "segments", "n": int(len(seg))})
        if "label" in seg.columns:
            rows.append({"cohort": cohort, "variable": "spasm segments", "n": int((seg["label"] == 1).sum())})
        for col in VIDEO_COLUMNS:
            summarise(cohort, col, vid[col] if col in vid else [])
        for col in SEGMENT_COLUMNS:
            summarise(cohort, col, seg[col] if col in seg else [])
        for col in extra:
            summarise(cohort, col, seg.groupby("path")[col].first())
    return pd.DataFrame(rows, columns=["cohort", "variable", "n", "median", "q1", "q3", "min", "max", "mean", "flag"])


def format_table1(long) -> "object":
    """Table 1 as text cells, variables as rows and cohorts as columns: counts, "median [q1-q3]",
    "median [q1-q3] (min-max)" for segments per child, and the share of 1s for 0/1 columns (night)."""
    import pandas as pd

    def cell(r) -> str:
        if pd.isna(r["median"]):
            return f"{int(r['n'])}"
        if r["flag"]:
            return f"{100 * r['mean']:.0f}%"
        if r["variable"] == "segments per child":
            return f"{r['median']:g} [{r['q1']:g}-{r['q3']:g}] ({r['min']:g}-{r['max']:g})"
        return f"{_num(r['median'])} [{_num(r['q1'])}-{_num(r['q3'])}]"

    cells = long.assign(cell=long.apply(cell, axis=1))
    order = list(dict.fromkeys(long["variable"]))
    return cells.pivot(index="variable", columns="cohort", values="cell").reindex(order).fillna("")


def _num(x: float) -> str:
    if abs(x) >= 10000:
        return f"{x:,.0f}"
    if abs(x) >= 1000:
        return f"{x:.0f}"
    return f"{x:.3g}"


# --- over files and manifests --------------------------------------------------------------------


def _characterise_video(job: tuple[str, list[tuple[float, float, Localised | None]]]) -> list[dict]:
    from spasmscope.data.video import probe

    path, spans = job
    info = probe(path)
    return [video_row(info)] + [segment_row(info, s, e, known) for s, e, known in spans]


def characterise(videos: list[str], manifest=None, workers: int | None = None, strict: bool = False, progress: Progress | None = None,
                 localised: Mapping[tuple[str, float, float], Localised] | None = None):  # fmt: skip
    """The characteristics table: a ``video`` row per file and a ``segment`` row per segment.

    With a ``manifest`` (``spasmscope.data.manifest.Manifest``) the segments are its rows and carry its
    columns; otherwise each video is cut into consecutive 5-s segments. Returns ``(table, skipped)``.
    ``localised`` maps a manifest row's (path, start, end) to what the localiser found when it was prepared
    (``SegmentCache.localised``: ``visibility`` and ``size``), which the row's visibility reuses where it can.
    ``progress`` counts videos (stage ``measure videos``).
    """
    import pandas as pd

    from spasmscope.data.batch import Skipped, default_workers, probe_all, probe_manifest, run_jobs

    skipped = Skipped()
    if manifest is not None:
        infos = probe_manifest(manifest, strict, skipped)
        found = localised or {}
        jobs = [(v, [(s, e, found.get((v, float(s), float(e)))) for s, e in zip(r["start"], r["end"], strict=True)])
                for v, r in manifest.rows.groupby("path", sort=False) if v in infos]  # fmt: skip
    else:
        jobs = [(v, [(s, e, None) for s, e in consecutive_spans(info.duration)]) for v, info in probe_all(videos, strict, skipped).items()]
    rows: list[dict] = []
    advance = counter(progress, "measure videos", len(jobs))

    def on_done(job, result, error) -> None:
        if error is not None:
            if strict:
                raise error
            skipped.add(job[0], str(error))
        else:
            rows.extend(result)
        advance()

    run_jobs(_characterise_video, jobs, workers or default_workers(), on_done)
    table = pd.DataFrame(rows)
    if manifest is not None and len(table):
        meta = manifest.rows.drop(columns=["line"]).rename(columns={"path": "_path"})
        # A manifest column named like a measured one (e.g. its own `night`) is kept beside it.
        clash = {c: f"{c}_manifest" for c in meta.columns if c in table.columns and c not in ("start", "end")}
        meta = meta.rename(columns=clash)
        seg = table[table["level"] == "segment"].merge(meta, left_on=["path", "start", "end"], right_on=["_path", "start", "end"], how="left")
        seg = seg.drop(columns=["_path"])
        vid = table[table["level"] == "video"]
        first = manifest.rows.groupby("path")[[c for c in ("video", "child", "cohort") if c in manifest.rows]].first()
        vid = vid.merge(first, left_on="path", right_index=True, how="left")
        table = pd.concat([vid, seg], ignore_index=True)
    return table, skipped


def probe_inputs(inputs: list[Path], out: Path, table1: Path | None = None, workers: int | None = None, strict: bool = False,
                 progress: Progress | None = None):  # fmt: skip
    """``spasmscope probe``: measure videos (or a manifest's segments) into the CSV ``out`` and, for a manifest, Table 1
    (into ``table1`` when given). A single video is read strictly: its error is the answer. Returns ``(table, Table 1
    long table or None, skipped)``."""
    from spasmscope import atomic
    from spasmscope.data.manifest import read_inputs
    from spasmscope.errors import InputError

    manifest, videos = read_inputs(inputs)
    table, skipped = characterise(videos, manifest=manifest, workers=workers, strict=strict or (manifest is None and len(videos) == 1), progress=progress)
    if len(table) == 0:
        raise InputError(inputs[0], "no readable video", "check the files listed above")
    atomic.write_csv(out, table)
    long = None
    if manifest is not None:
        long = cohort_table(table)
        if table1 is not None:
            atomic.write_csv(table1, long)
    return table, long, skipped
