"""What a clinician reads after screening: a timeline per recording and one HTML page listing every detection
with a strip of frames and its time, built from the screening run's files (``windows.csv``, ``events.csv``)
and, for the strips, the recordings themselves. Also the threshold-sweep figure of ``score-events``.
"""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from spasmscope import atomic
from spasmscope.data.video import read_frames
from spasmscope.figures import SPASM, img, page, png
from spasmscope.screening.events import deficiency, merge_close, recording_durations
from spasmscope.screening.runs import EVENTS_FILE, REPORT_FILE, WINDOWS_FILE, read_windows

STRIP_FRAMES = 6
STRIP_HEIGHT = 96  # pixels of each frame in a strip
REASON_COLOURS = {"too dark": "#555555", "no infant in view": "#bbbbbb", "lighting changed": "#e6b422"}  # anything else (unreadable): pink
UNREADABLE = "#f5b7b1"


def clock(seconds: float) -> str:
    """Seconds -> ``h:mm:ss.s`` (or ``m:ss.s`` under an hour), how a reviewer finds the moment in a player."""
    seconds = max(0.0, float(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{int(h)}:{int(m):02d}:{s:04.1f}" if h >= 1 else f"{int(m)}:{s:04.1f}"


def timeline_figure(windows: pd.DataFrame, events: pd.DataFrame, threshold: float, title: str, reference: pd.DataFrame | None = None) -> bytes:
    """Score of every window at its centre against time, the threshold, stretches not scored (by reason) and the
    detections; annotated spasms as ticks when ``reference`` is given."""
    duration = float(windows["end"].max())
    minutes = duration >= 600
    unit = 60.0 if minutes else 1.0
    fig, ax = plt.subplots(figsize=(11, 2.8))
    bad = windows[windows["valid"] == 0]
    for reason, group in bad.groupby(bad["reason"].map(lambda r: r if r in REASON_COLOURS else "unreadable")):
        for a, b in merge_close(group[["start", "end"]].to_numpy()):  # one span per stretch, not overlapping windows
            ax.axvspan(a / unit, b / unit, color=REASON_COLOURS.get(reason, UNREADABLE), alpha=0.6, lw=0)
    for r in events.itertuples():
        ax.axvspan(r.onset / unit, r.offset / unit, color=SPASM, alpha=0.18, lw=0)
    ok = windows[windows["valid"] == 1]
    ax.plot((ok["start"] + ok["end"]) / 2 / unit, ok["score"], ".", ms=3, color="#1b4f72")
    ax.axhline(threshold, color=SPASM, ls="--", lw=1)
    if reference is not None and len(reference):
        ax.plot(reference["onset"] / unit, np.full(len(reference), 1.04), "v", color="black", ms=4, clip_on=False, label="annotated spasm")
        ax.legend(loc="upper right", fontsize=7, frameon=False)
    ax.set_xlim(0, duration / unit)
    ax.set_ylim(0, 1)
    ax.set_xlabel("minutes" if minutes else "seconds")
    ax.set_ylabel("spasm probability")
    ax.set_title(f"{title}: red = detections, grey = no infant, dark = too dark, yellow = lighting changed, pink = unreadable", fontsize=9, pad=12)  # above the annotated-spasm ticks
    return png(fig)


def event_strip(video: str, onset: float, offset: float, crop: tuple[float, float, float, float] | None) -> bytes:
    """``STRIP_FRAMES`` frames evenly across ``[onset, offset]``, cropped as the model saw them, side by side."""
    import cv2


    frames = read_frames(video, np.linspace(onset, offset, STRIP_FRAMES + 2)[1:-1])
    if crop is not None and not any(np.isnan(crop)):
        x, y, w, h = (int(v) for v in crop)
        frames = frames[:, y : y + h, x : x + w]
    scale = STRIP_HEIGHT / frames.shape[1]
    tiles = [cv2.resize(f, (max(1, int(round(f.shape[1] * scale))), STRIP_HEIGHT), interpolation=cv2.INTER_AREA) for f in frames]
    ok, png = cv2.imencode(".png", cv2.cvtColor(np.concatenate(tiles, axis=1), cv2.COLOR_RGB2BGR))
    assert ok
    return png.tobytes()


def write_screen_report(run: Path, threshold: float, reference: pd.DataFrame | None = None) -> Path:
    """``run/report.html`` and ``run/timelines/*.png`` from ``run/windows.csv`` and ``run/events.csv``."""
    windows = read_windows(run / WINDOWS_FILE)
    events = pd.read_csv(run / EVENTS_FILE, keep_default_na=False, na_values=[""])
    parts = ["<h1>spasmscope screening</h1>",
             f"<p>{len(windows['video'].unique())} recording(s), {len(events)} detection(s) to review at threshold {threshold:g}. "
             "Each detection spans the 5-s windows that scored at or above the threshold; times are from the start of the file.</p>"]  # fmt: skip
    for video, duration in recording_durations(windows).items():
        w = windows[windows["video"] == video]
        ev = events[events["video"] == video].sort_values("onset")
        ref = reference[reference["video"] == video] if reference is not None else None
        name = Path(video).name
        png = timeline_figure(w, ev, threshold, name, ref)
        atomic.write_bytes(run / "timelines" / f"{Path(video).stem}.png", png)
        lost = deficiency(w, duration)
        reasons = w.loc[w["valid"] == 0, "reason"].value_counts().to_dict()
        parts.append(f"<h2>{html.escape(name)}</h2><p>{clock(duration)} recorded; {len(ev)} detection(s); not scored: {clock(lost)} "
                     f"({lost / duration:.0%}){': ' + html.escape(', '.join(f'{k} ({v} windows)' for k, v in reasons.items())) if reasons else ''}.</p>")  # fmt: skip
        parts.append(img(png, f"timeline of {name}"))
        if ev.empty:
            continue
        rows = []
        for i, e in enumerate(ev.itertuples(), 1):
            best = w[(w["start"] < e.offset) & (w["end"] > e.onset) & (w["valid"] == 1)].sort_values("score").iloc[-1]
            crop = (best["crop_x"], best["crop_y"], best["crop_w"], best["crop_h"])
            try:
                strip = img(event_strip(video, e.onset, e.offset, crop), f"frames of detection {i}")
            except Exception as err:  # the recording moved or broke since screening: list the event anyway
                strip = f"<span class='note'>frames unavailable ({html.escape(str(err)[:120])})</span>"
            rows.append(f"<tr><td>{i}</td><td>{clock(e.onset)} – {clock(e.offset)}</td><td>{e.peak_score:.2f} at {clock(e.peak_time)}</td><td>{strip}</td></tr>")
        parts.append("<table><tr><th>#</th><th>time</th><th>peak score</th><th>frames (as the model saw them)</th></tr>" + "".join(rows) + "</table>")
    parts.append("<p class='note'>A screening aid, not a diagnosis: every detection needs review by a clinician, and stretches not scored were not screened.</p>")
    atomic.write_text(run / REPORT_FILE, page("spasmscope screening", parts))
    return run / REPORT_FILE


def sweep_figure(table: pd.DataFrame, chosen: float | None = None) -> bytes:
    """Event sensitivity against false alarms per 24 h over thresholds, at spasm and cluster level."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for level, style in (("spasm", "-o"), ("cluster", "--s")):
        ax.plot(table[f"{level}_false_alarms_per_24h"], table[f"{level}_sensitivity"], style, ms=3, label=f"{level} level")
    if chosen is not None:
        row = table[table["threshold"] == chosen].iloc[0]
        x, y = (pd.to_numeric(pd.Series([row["spasm_false_alarms_per_24h"], row["spasm_sensitivity"]]), errors="coerce")).to_numpy(float)
        if np.isfinite(x) and np.isfinite(y):  # a recording without annotated spasms has no sensitivity to mark
            ax.plot(x, y, "*", ms=14, color=SPASM, label=f"threshold {chosen:g}")
    ax.set_xlabel("false alarms per 24 h")
    ax.set_ylabel("event sensitivity")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title("Threshold sweep")
    return png(fig)
