"""Serving a review session: a token, a port on 127.0.0.1, uvicorn, and the browser if asked."""

from __future__ import annotations

import secrets
import socket
import webbrowser
from collections.abc import Callable
from pathlib import Path

from spasmscope.review.app import Station, make_app
from spasmscope.review.items import check_run


def serve(runs: list[Path], reviewer: str, port: int = 0, open_browser: bool = True, recordings_dir: Path | None = None,
          announce: Callable[[str], None] = print) -> None:  # fmt: skip
    """Serve the review of ``runs`` on 127.0.0.1 (``port`` 0: a free one) until interrupted; ``announce`` gets the
    address, token included. Every decision is stored when it is acknowledged, so stopping loses nothing."""
    import uvicorn

    for run in runs:
        check_run(run)
    station = Station(runs, reviewer, recordings_dir)
    token = secrets.token_urlsafe(24)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)  # connections wait in the queue from now, before uvicorn takes the socket
    address = f"http://127.0.0.1:{sock.getsockname()[1]}/?token={token}"
    announce(address)
    if open_browser:
        webbrowser.open(address)
    server = uvicorn.Server(uvicorn.Config(make_app(station, token), log_level="warning", access_log=False))
    server.run(sockets=[sock])
