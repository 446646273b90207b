"""The review station's routes: a small ASGI app over screening runs (METHOD §10).

Every request carries the session's token (``?token=`` or the ``X-Token`` header) or gets 403. Only the page's
own files, the runs' recordings (by number, never by a path from the request) and their clips are served; any other
path is 404. Decisions go to each run's ``review.sqlite`` (``store``); a body that is not a decision is 422, with
nothing written.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from spasmscope.errors import InputError
from spasmscope.review.clips import clip, playable
from spasmscope.review.items import detections, durations, threshold, windows
from spasmscope.review.store import DECISIONS, STORE_FILE, ReviewStore
from spasmscope.screening.report import event_strip

PAGE = Path(__file__).parent / "page"
PAGE_FILES = {"app.js": "text/javascript", "style.css": "text/css"}  # besides index.html, the only files served from the package
LEAD_S = 3.0  # the player starts this long before a detection
ADDED_SPASM_S = 1.0  # seconds a reviewer-added spasm spans from the moment marked (stored with it)
STATES = ("all", "undecided", *DECISIONS)


@dataclass
class Recording:
    id: str  # rec0, rec1, ...: what the page asks for
    run: int
    path: str  # as screened
    file: Path  # where it is now (see --recordings)
    duration: float
    playable: bool


class Station:
    """The runs under review, their recordings, items and stores."""

    def __init__(self, runs: list[Path], reviewer: str, recordings_dir: Path | None = None):
        self.runs, self.reviewer = runs, reviewer
        self.stores = [ReviewStore(run / STORE_FILE) for run in runs]
        self.detections = [detections(run) for run in runs]
        self.windows = [windows(run) for run in runs]
        self.thresholds = [threshold(run) for run in runs]
        self.recordings: list[Recording] = []
        for r, run in enumerate(runs):
            for video, duration in durations(run).items():
                file = _locate(video, run, recordings_dir)
                self.recordings.append(Recording(f"rec{len(self.recordings)}", r, video, file, duration, playable(str(file))))
        self.by_id = {rec.id: rec for rec in self.recordings}
        self.by_path = {(rec.run, rec.path): rec for rec in self.recordings}

    def decisions(self) -> list[pd.DataFrame]:
        """Each run's current decisions (``ReviewStore.current``), read once for a request that needs them twice."""
        return [store.current() for store in self.stores]

    def reviewers(self, decisions: list[pd.DataFrame] | None = None) -> list[str]:
        """This session's reviewer first, then everyone else who decided in these runs (``decisions``: read now
        when not given)."""
        seen = {r for current in (decisions if decisions is not None else self.decisions()) for r in current["reviewer"]}
        return [self.reviewer, *sorted(seen - {self.reviewer})]

    def items(self, reviewer: str | None = None, decisions: list[pd.DataFrame] | None = None) -> pd.DataFrame:
        """Every item of every run with ``reviewer``'s current decision (``state``; this session's reviewer by
        default) and the other reviewers' (``others``); ``decisions`` as for ``reviewers``."""
        reviewer = reviewer or self.reviewer
        decisions = decisions if decisions is not None else self.decisions()
        frames = []
        for r, (store, found, current) in enumerate(zip(self.stores, self.detections, decisions, strict=True)):
            added = store.added().rename(columns={"reviewer": "added_by"})
            items = pd.concat([found.assign(kind="detection"), added.assign(kind="added", peak_score=float("nan"))], ignore_index=True)
            if items.empty:
                continue
            mine = current[current["reviewer"] == reviewer].set_index("item")
            others = current[current["reviewer"] != reviewer].groupby("item").apply(
                lambda g: ", ".join(f"{a}: {d}" for a, d in zip(g["reviewer"], g["decision"], strict=True)), include_groups=False)
            items["state"] = items["item"].map(mine["decision"]).fillna("undecided")
            items["note"] = items["item"].map(mine["note"]).fillna("")
            items["others"] = items["item"].map(others).fillna("") if len(others) else ""
            items["recording"] = [self.by_path[(r, v)].id for v in items["video"]]
            items["id"] = [f"{r}:{i}" for i in items["item"]]
            frames.append(items)
        columns = ["id", "recording", "kind", "onset", "offset", "peak_score", "state", "note", "others"]
        return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)

    def store_of(self, item_id: str) -> tuple[ReviewStore, str]:
        run, _, item = item_id.partition(":")
        if not run.isdigit() or int(run) >= len(self.stores) or not item:
            raise KeyError(item_id)
        return self.stores[int(run)], item


def _locate(video: str, run: Path, recordings_dir: Path | None) -> Path:
    """Where a screened recording is now: as screened, or by its name in ``recordings_dir``; a one-line error
    naming both otherwise."""
    if Path(video).is_file():
        return Path(video)
    if recordings_dir is not None and (recordings_dir / Path(video).name).is_file():
        return recordings_dir / Path(video).name
    fix = f"it is not in {recordings_dir} either; give the folder that holds it" if recordings_dir else "give --recordings FOLDER where the recordings are now"
    raise InputError(video, f"recording of the run {run} has moved or is missing", fix)


def make_app(station: Station, token: str) -> Starlette:
    """The ASGI app of one review session."""

    def allowed(request: Request) -> bool:
        given = request.query_params.get("token") or request.headers.get("x-token") or ""
        return hmac.compare_digest(given.encode(), token.encode())

    def guarded(handler):
        async def route(request: Request) -> Response:
            if not allowed(request):
                return JSONResponse({"error": "a valid token is required"}, status_code=403)
            return await handler(request)

        return route

    page = (PAGE / "index.html").read_text().replace("__TOKEN__", token)  # the page's own requests carry the token

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in PAGE_FILES:
            return JSONResponse({"error": "not found"}, status_code=404)
        return FileResponse(PAGE / name, media_type=PAGE_FILES[name])

    async def items(request: Request) -> Response:
        q = request.query_params
        order, state, recording, reviewer = q.get("order", "score"), q.get("state", "all"), q.get("recording", ""), q.get("reviewer", "")
        decisions = station.decisions()
        reviewers = station.reviewers(decisions)
        if order not in ("score", "time") or state not in STATES or (reviewer and reviewer not in reviewers):
            return JSONResponse({"error": f"order is score or time, state one of {', '.join(STATES)}, reviewer one of {', '.join(reviewers)}"}, status_code=422)
        table = station.items(reviewer or None, decisions)
        total, decided = len(table), int((table["state"] != "undecided").sum())
        if recording:
            table = table[table["recording"] == recording]
        if state != "all":
            table = table[table["state"] == state]
        table = table.sort_values(["peak_score", "recording", "onset"], ascending=[False, True, True], na_position="first") if order == "score" else table.sort_values(["recording", "onset"])
        rows = table.astype(object).where(table.notna(), None).to_dict("records")
        return JSONResponse({"reviewer": station.reviewer, "shown_for": reviewer or station.reviewer, "reviewers": reviewers, "items": rows, "reviewed": decided, "total": total})

    async def recordings(request: Request) -> Response:
        out = []
        for rec in station.recordings:
            w = station.windows[rec.run]
            w = w[w["video"] == rec.path]
            out.append({"id": rec.id, "name": Path(rec.path).name, "duration": rec.duration, "playable": rec.playable, "threshold": station.thresholds[rec.run],
                        "windows": {"start": w["start"].tolist(), "end": w["end"].tolist(), "score": w["score"].astype(object).where(w["score"].notna(), None).tolist(),
                                    "reason": w["reason"].tolist(), "crop": [None if pd.isna(c[0]) else [int(v) for v in c] for c in w[["crop_x", "crop_y", "crop_w", "crop_h"]].to_numpy()]}})  # fmt: skip
        return JSONResponse({"recordings": out, "lead_s": LEAD_S})

    async def decide(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=422)
        if not isinstance(body, dict) or body.get("decision") not in DECISIONS or not isinstance(body.get("item"), str) or not isinstance(body.get("note", ""), str):
            return JSONResponse({"error": f"give item, decision ({', '.join(DECISIONS)}) and an optional note"}, status_code=422)
        try:
            store, item = station.store_of(body["item"])
        except KeyError:
            return JSONResponse({"error": "no such item"}, status_code=422)
        row = store.decide(item, station.reviewer, body["decision"], body.get("note", ""))
        return JSONResponse({"id": row, "item": body["item"], "decision": body["decision"]})

    async def add(request: Request) -> Response:
        try:
            body = await request.json()
            rec = station.by_id[body["recording"]]
            onset = float(body["onset"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "give recording and onset (seconds)"}, status_code=422)
        if not 0 <= onset < rec.duration:
            return JSONResponse({"error": f"onset must be within the recording's {rec.duration:.1f} s"}, status_code=422)
        item = station.stores[rec.run].add_event(rec.path, onset, min(onset + ADDED_SPASM_S, rec.duration), station.reviewer, str(body.get("note", "")))
        return JSONResponse({"id": f"{rec.run}:{item}"})

    async def video(request: Request) -> Response:
        rec = station.by_id.get(request.path_params["rec"])
        if rec is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return FileResponse(rec.file)  # answers range requests: a long file is never sent whole

    def stretch(request: Request, first: str, last: str) -> tuple[Recording, float, float] | Response:
        """The recording the path names and two times (seconds) from the query, or the answer to a bad request."""
        rec = station.by_id.get(request.path_params["rec"])
        try:
            a, b = float(request.query_params[first]), float(request.query_params[last])
        except (KeyError, ValueError):
            return JSONResponse({"error": f"give {first} and {last}"}, status_code=422)
        if rec is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return rec, a, b

    async def strip(request: Request) -> Response:
        found = stretch(request, "onset", "offset")
        if isinstance(found, Response):
            return found
        rec, onset, offset = found
        if not 0 <= onset < offset <= rec.duration + 0.5 or offset - onset > 120:
            return JSONResponse({"error": "onset and offset within the recording, at most 120 s apart"}, status_code=422)
        # Cropped as the model saw the detection: the crop of the window around its middle.
        w = station.windows[rec.run]
        w = w[(w["video"] == rec.path) & (w["start"] <= (onset + offset) / 2) & (w["end"] >= (onset + offset) / 2)]
        crop = tuple(w[["crop_x", "crop_y", "crop_w", "crop_h"]].iloc[0]) if len(w) else None
        png = await run_in_threadpool(event_strip, str(rec.file), onset, offset, crop)
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    async def moment(request: Request) -> Response:
        found = stretch(request, "start", "end")
        if isinstance(found, Response):
            return found
        rec, start, end = found
        start, end = max(0.0, start), min(rec.duration, end)
        if not end - start > 0.1 or end - start > 120:
            return JSONResponse({"error": "a clip is 0.1 to 120 s of the recording"}, status_code=422)
        return FileResponse(clip(str(rec.file), round(start, 2), round(end, 2), station.runs[rec.run] / "review-clips"), media_type="video/mp4")

    routes = [
        Route("/", guarded(index)),
        Route("/page/{name}", guarded(static)),
        Route("/api/items", guarded(items)),
        Route("/api/recordings", guarded(recordings)),
        Route("/api/decisions", guarded(decide), methods=["POST"]),
        Route("/api/added", guarded(add), methods=["POST"]),
        Route("/video/{rec}", guarded(video)),
        Route("/clip/{rec}", guarded(moment)),
        Route("/strip/{rec}", guarded(strip)),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": "not found"}, status_code=404 if allowed(request) else 403)

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
