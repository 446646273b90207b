"""Atomic file writes: a reader (or a resumed run) sees the old file or the whole new one, never half.

Each writer writes to a temporary file in the destination folder, flushes it to disk, then renames it
over the destination; a rename within one file system is atomic on POSIX.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_path(dest: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success it replaces ``dest``, on error it is removed.

    ``suffix`` overrides the extension of the temporary name (default: ``dest``'s own).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # The temporary name keeps the destination's extension: some writers (FFmpeg) choose the format by it.
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=f".tmp{suffix or dest.suffix}", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def clear_leftovers(folder: str | Path) -> list[Path]:
    """Remove the temporary files that writers killed mid-write (SIGKILL skips every clean-up) left in ``folder``,
    and return them. Call it where a resumed run redoes that folder's work: no writer of its own is running there."""
    gone = [p for p in Path(folder).glob(".*.tmp*") if p.is_file()]
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


def write_with(dest: str | Path, write: Callable[[IO[Any]], None], mode: str = "w") -> None:
    """Open a temporary file in ``mode``, let ``write`` fill it, then move it to ``dest``."""
    with atomic_path(dest) as tmp, open(tmp, mode, newline="" if "b" not in mode else None) as f:
        write(f)


def write_text(dest: str | Path, text: str) -> None:
    write_with(dest, lambda f: f.write(text))


def write_bytes(dest: str | Path, data: bytes) -> None:
    write_with(dest, lambda f: f.write(data), mode="wb")


def write_json(dest: str | Path, obj: Any) -> None:
    write_text(dest, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_csv(dest: str | Path, frame: Any) -> None:
    """Write a pandas DataFrame as CSV without its index."""
    write_with(dest, lambda f: frame.to_csv(f, index=False))
