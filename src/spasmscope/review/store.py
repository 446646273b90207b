"""The review store: every decision a row in SQLite, never changed or deleted (METHOD §10).

``review.sqlite`` lives in the run folder, in write-ahead-log mode, so a reader never blocks the writer and a
killed process loses nothing that was committed. A decision is ``(item, reviewer, decision, note, time)``; the
current state of an item is the latest row per item and reviewer. A spasm the model missed is an added event with
an item of its own and an ``accept`` decision by the reviewer who added it.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Iterator

import pandas as pd

from spasmscope.errors import InputError, SettingError

STORE_FILE = "review.sqlite"
DECISIONS = ("accept", "reject", "unsure")
ADDED_PREFIX = "added:"

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('accept', 'reject', 'unsure')),
    note TEXT NOT NULL DEFAULT '',
    time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_by_item ON decisions (item, reviewer, id);
CREATE TABLE IF NOT EXISTS added (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item TEXT NOT NULL UNIQUE,
    video TEXT NOT NULL,
    onset REAL NOT NULL,
    offset REAL NOT NULL,
    reviewer TEXT NOT NULL,
    time TEXT NOT NULL
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ReviewStore:
    """The decisions of one run folder's review. Safe to share between threads: each thread has its own connection,
    and every write is one immediate transaction."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        try:
            with self._connection() as db:
                if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                    raise sqlite3.DatabaseError("quick_check failed")
                db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise InputError(self.path, f"is not a readable review store ({e})", "move it aside (keep it: it may hold decisions) and start the review again") from None

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=True)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # a decision acknowledged is on disk
            self._local.db = db
        yield db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def decide(self, item: str, reviewer: str, decision: str, note: str = "") -> int:
        """Store one decision; returns its row id. ``SettingError`` for a decision not in ``DECISIONS`` or an empty
        item or reviewer, before anything is written."""
        if decision not in DECISIONS:
            raise SettingError(f"decision={decision!r}", f"use one of {', '.join(DECISIONS)}")
        if not item or not reviewer:
            raise SettingError(f"item={item!r}, reviewer={reviewer!r}", "name the item and the reviewer")
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("INSERT INTO decisions (item, reviewer, decision, note, time) VALUES (?, ?, ?, ?, ?)", (item, reviewer, decision, note, _now())).lastrowid
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return int(row)

    def add_event(self, video: str, onset: float, offset: float, reviewer: str, note: str = "") -> str:
        """A spasm the model missed, marked by ``reviewer`` at ``onset``-``offset`` seconds of ``video``: a new item,
        accepted by its reviewer. Returns the item."""
        if not offset > onset >= 0:
            raise SettingError(f"onset={onset}, offset={offset}", "an added event needs 0 <= onset < offset, in seconds")
        if not reviewer:
            raise SettingError("reviewer=''", "name the reviewer")
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                n = db.execute("SELECT COUNT(*) FROM added").fetchone()[0]
                item = f"{ADDED_PREFIX}{n + 1}"
                now = _now()
                db.execute("INSERT INTO added (item, video, onset, offset, reviewer, time) VALUES (?, ?, ?, ?, ?, ?)", (item, video, onset, offset, reviewer, now))
                db.execute("INSERT INTO decisions (item, reviewer, decision, note, time) VALUES (?, ?, 'accept', ?, ?)", (item, reviewer, note, now))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return item

    def history(self) -> pd.DataFrame:
        """Every decision ever stored, in order: ``id, item, reviewer, decision, note, time``."""
        with self._connection() as db:
            return pd.read_sql_query("SELECT id, item, reviewer, decision, note, time FROM decisions ORDER BY id", db)

    def current(self) -> pd.DataFrame:
        """The latest decision per item and reviewer: ``item, reviewer, decision, note, time``."""
        with self._connection() as db:
            return pd.read_sql_query(
                "SELECT d.item, d.reviewer, d.decision, d.note, d.time FROM decisions d "
                "JOIN (SELECT item, reviewer, MAX(id) AS id FROM decisions GROUP BY item, reviewer) last ON d.id = last.id ORDER BY d.id",
                db,
            )

    def added(self) -> pd.DataFrame:
        """The reviewer-added events: ``item, video, onset, offset, reviewer, time``."""
        with self._connection() as db:
            return pd.read_sql_query("SELECT item, video, onset, offset, reviewer, time FROM added ORDER BY id", db)
