"""Manifests (METHOD §1): one row per 5-second segment; read, validate, refuse bad ones before work.

Every problem is reported with the manifest's path, the line (1 = the header) and the fix, as an
``InputError``. Checks that need the videos themselves (the file exists; a segment ends before the
video does) are here too, so a run never starts on a manifest that would fail half-way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from spasmscope.data.segments import SEGMENT_S
from spasmscope.errors import InputError

REQUIRED = ("video", "child", "start")
# A segment may end this much after the video's reported duration (seconds): containers round the
# duration, and the last frame is shown for one frame period.
END_SLACK_S = 0.1


@dataclass(frozen=True)
class Manifest:
    """A validated manifest."""

    path: Path  # the CSV file
    rows: pd.DataFrame  # original columns plus `path` (absolute video path), `end` filled, `line` (CSV line)

    @property
    def videos(self) -> list[str]:
        """Absolute paths of the distinct videos, in first-appearance order."""
        return list(dict.fromkeys(self.rows["path"]))

    @property
    def has_labels(self) -> bool:
        return "label" in self.rows.columns


def _where(path: Path, line: int) -> str:
    return f"{path} line {line}"


def read_manifest(path: str | os.PathLike, require_labels: bool = False, check_files: bool = True) -> Manifest:
    """Read and validate a manifest CSV.

    Refuses (``InputError``): a missing or unreadable file, a missing required column, an empty
    manifest, a non-numeric or negative ``start``/``end``, ``end <= start``, a ``label`` other than 0/1
    (or no labels when ``require_labels``), a duplicate segment, a child in two cohorts, and (with
    ``check_files``) a video file that does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "manifest not found", "check the path")
    if path.stat().st_size == 0:
        raise InputError(path, "manifest is empty (0 bytes)", "write a CSV with columns video, child, start[, end, label, cohort]")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise InputError(path, f"not a readable CSV ({str(e).splitlines()[0]})", "save the manifest as comma-separated UTF-8 text") from None
    df.columns = [c.strip() for c in df.columns]
    for col in REQUIRED:
        if col not in df.columns:
            have = ", ".join(df.columns) or "none"
            raise InputError(path, f"no column '{col}' (columns: {have})", f"add a '{col}' column; required columns are {', '.join(REQUIRED)}", line=1)
    if len(df) == 0:
        raise InputError(path, "manifest has no rows", "add one row per 5-second segment")
    df = df.copy()
    df["line"] = range(2, len(df) + 2)

    for col in ("video", "child"):
        blank = df[df[col].str.strip() == ""]
        if len(blank):
            raise InputError(path, f"empty '{col}'", f"fill in the {col} of every row", line=int(blank["line"].iloc[0]))
    df["start"] = _numbers(df, "start", path)
    if "end" in df.columns:
        missing_end = df["end"].str.strip() == ""
        ends = _numbers(df.assign(end=df["end"].where(~missing_end, "0")), "end", path)
        df["end"] = ends.where(~missing_end, df["start"] + SEGMENT_S)
    else:
        df["end"] = df["start"] + SEGMENT_S
    bad = df[df["start"] < 0]
    if len(bad):
        r = bad.iloc[0]
        raise InputError(path, f"start is {r['start']:g} s", "give a start of 0 or more (seconds from the start of the video)", line=int(r["line"]))
    bad = df[df["end"] <= df["start"]]
    if len(bad):
        r = bad.iloc[0]
        raise InputError(path, f"end ({r['end']:g} s) is not after start ({r['start']:g} s)", "make end greater than start, or leave end empty for start + 5 s", line=int(r["line"]))

    if "label" in df.columns:
        raw = df["label"].str.strip()
        bad = df[~raw.isin(["0", "1", "0.0", "1.0"])]
        if len(bad):
            r = bad.iloc[0]
            raise InputError(path, f"label is '{r['label']}'", "use 1 for a segment with an epileptic spasm, 0 for none", line=int(r["line"]))
        df["label"] = raw.astype(float).astype(int)
    elif require_labels:
        raise InputError(path, "no column 'label'", "add a label column (1 = spasm in the segment, 0 = none) to train or evaluate", line=1)

    base = path.parent
    df["path"] = [str((base / v.strip()).resolve()) if not os.path.isabs(v.strip()) else str(Path(v.strip())) for v in df["video"]]
    key = df[["path", "start", "end"]]
    dup = df[key.duplicated(keep=False)]
    if len(dup):
        first = dup.groupby(["path", "start", "end"])["line"].apply(list).iloc[0]
        raise InputError(
            path,
            f"duplicate segment on lines {', '.join(map(str, first))} ({dup['video'].iloc[0]}, {dup['start'].iloc[0]:g}-{dup['end'].iloc[0]:g} s)",
            "keep one row per segment",
            line=int(first[1]),
        )

    if "cohort" in df.columns:
        cohorts = df.groupby("child")["cohort"].unique()
        split = cohorts[cohorts.apply(len) > 1]
        if len(split):
            child = split.index[0]
            rows = df[df["child"] == child]
            second = rows[rows["cohort"] != rows["cohort"].iloc[0]].iloc[0]
            raise InputError(
                path,
                f"child '{child}' is in two cohorts ({', '.join(map(str, split.iloc[0]))})",
                "give each child one cohort; children are the unit of validation",
                line=int(second["line"]),
            )

    if check_files:
        for video, first in df.groupby("path", sort=False)["line"].first().items():
            if not Path(video).exists():
                raise InputError(path, f"video not found: {video}", "fix the path (relative paths start at the manifest's folder)", line=int(first))
    return Manifest(path=path, rows=df.reset_index(drop=True))


def _numbers(df: pd.DataFrame, col: str, path: Path) -> pd.Series:
    values = pd.to_numeric(df[col].str.strip(), errors="coerce")
    bad = df[values.isna()]
    if len(bad):
        r = bad.iloc[0]
        raise InputError(path, f"{col} is '{r[col]}', not a number", f"give {col} in seconds, e.g. 12.5", line=int(r["line"]))
    return values.astype(float)


def check_segments_in_video(manifest: Manifest, video: str, duration: float) -> None:
    """Refuse a segment of ``video`` (absolute path) that ends after the video's ``duration`` (seconds)."""
    rows = manifest.rows[manifest.rows["path"] == video]
    past = rows[rows["end"] > duration + END_SLACK_S]
    if len(past):
        r = past.iloc[0]
        raise InputError(
            manifest.path,
            f"segment {r['start']:g}-{r['end']:g} s is past the end of {r['video']} ({duration:.2f} s long)",
            "fix start/end or the video path",
            line=int(r["line"]),
        )


def read_events(path: str | os.PathLike) -> pd.DataFrame:
    """Read an events CSV (``video,onset,offset[,child]``, seconds; one row per spasm)."""
    return _read_spans(path, "events", "annotated spasms", ("video", "onset", "offset"), "video,onset,offset[,child]")


def read_movements(path: str | os.PathLike) -> pd.DataFrame:
    """Read a movements CSV (``video,kind,onset,offset``, seconds; one row per movement that is not a spasm, named by
    ``kind``), as ``synth`` writes ``movements.csv``."""
    df = _read_spans(path, "movements", "movements that are not spasms", ("video", "kind", "onset", "offset"), "video,kind,onset,offset")
    kind = df["kind"].fillna("").astype(str).str.strip()
    if (kind == "").any():
        i = int((kind == "").to_numpy().argmax())
        raise InputError(path, "a movement has no kind", "name each movement in the kind column (e.g. kick, startle)", line=i + 2)
    return df.assign(kind=kind)


def _read_spans(path: str | os.PathLike, what: str, holding: str, columns: tuple[str, ...], layout: str) -> pd.DataFrame:
    """A CSV of time spans in seconds (``onset``, ``offset`` among ``columns``), checked: ``what`` names the file and
    ``holding`` its rows in errors."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, f"{what} file not found", f"give the CSV of {holding}: {layout} in seconds")
    try:
        df = pd.read_csv(path, dtype={"video": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(path, f"is not a readable CSV ({str(e).splitlines()[0]})", f"save it as CSV with columns {','.join(columns)}") from None
    for col in columns:
        if col not in df.columns:
            raise InputError(path, f"no column '{col}'", f"{what} need columns {layout.replace(',', ', ')} in seconds", line=1)
    for col in ("onset", "offset"):
        values = pd.to_numeric(df[col], errors="coerce")
        if values.isna().any():
            i = int(values.isna().to_numpy().argmax())
            raise InputError(path, f"{col} is {df[col].iloc[i]!r}", "give seconds from the start of the video", line=i + 2)
        df[col] = values.astype(float)
    bad = df[~(df["offset"] > df["onset"])]
    if len(bad):
        raise InputError(path, f"offset is not after onset ({bad['onset'].iloc[0]:g} -> {bad['offset'].iloc[0]:g})", f"fix the {what[:-1]} times", line=int(bad.index[0]) + 2)
    return df


def read_inputs(inputs: list[Path]) -> tuple[Manifest | None, list[str]]:
    """A command's inputs: one ``.csv`` is a manifest, read as such; anything else is a list of videos."""
    if len(inputs) == 1 and inputs[0].suffix.lower() == ".csv":
        return read_manifest(inputs[0]), []
    for p in inputs:
        if p.suffix.lower() == ".csv":
            raise InputError(p, "a manifest must be given alone", "run one manifest at a time, or list video files only")
    return None, [str(p) for p in inputs]


def read_list(path: str | os.PathLike) -> list[str]:
    """The recordings named in a text file, one per line; a relative path starts at the file's folder, blank lines
    and ``#`` comments are skipped. Files are not checked here (``batch.probe_all`` reports the unreadable ones)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "list file not found", "give a text file naming one recording per line")
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise InputError(path, "is not a text file", "give a text file naming one recording per line") from None
    names = [line.split("#", 1)[0].strip() for line in lines]
    paths = [str(Path(n) if os.path.isabs(n) else (path.parent / n).resolve()) for n in names if n]
    if not paths:
        raise InputError(path, "names no recording", "write one recording's path per line")
    return paths
