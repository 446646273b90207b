"""Work over the videos of a manifest: probe them first, skip (or refuse) bad ones, run jobs on all
cores with a progress bar.

A bad video (missing, empty, truncated, not a video, no video stream) is reported and skipped, and
the rest of the run finishes; with ``strict`` it is fatal. A segment that lies past the end of its
video is a manifest error and stops the run before any work starts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TypeVar

from spasmscope.data.manifest import Manifest, check_segments_in_video
from spasmscope.data.video import VideoInfo, probe
from spasmscope.errors import VideoError

T = TypeVar("T")


@dataclass
class Skipped:
    """Videos or segments left out of a run, with the one-line reason for each."""

    items: list[tuple[str, str]] = field(default_factory=list)  # (what, reason)

    def add(self, what: str, reason: str) -> None:
        self.items.append((what, reason))

    def __len__(self) -> int:
        return len(self.items)


def probe_all(videos: Iterable[str], strict: bool, skipped: Skipped) -> dict[str, VideoInfo]:
    """Probe every video; returns the readable ones by path. An unreadable one is added to ``skipped`` with its
    reason (or raised with ``strict``): the one probe-and-skip rule of every batch command."""
    infos: dict[str, VideoInfo] = {}
    for video in videos:
        try:
            infos[video] = probe(video)
        except VideoError as e:
            if strict:
                raise
            skipped.add(video, str(e))
    return infos


def probe_manifest(manifest: Manifest, strict: bool, skipped: Skipped) -> dict[str, VideoInfo]:
    """``probe_all`` over the videos of ``manifest``; a segment past the end of a readable video raises
    ``InputError``."""
    infos = probe_all(manifest.videos, strict, skipped)
    for video, info in infos.items():
        check_segments_in_video(manifest, video, info.duration)
    return infos


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def _init_worker(parent: int) -> None:
    _die_with_parent(parent)
    _one_thread()


def _one_thread() -> None:
    # One process per core already; more threads per process would only compete for the same cores.
    import torch

    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"


def _die_with_parent(parent: int) -> None:
    """On Linux, have the kernel end this worker when its parent (process ``parent``) dies: a killed run must
    not leave workers decoding on every core."""
    if sys.platform != "linux":
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        return
    # A parent that died between this worker's fork and the prctl sent no signal: the worker is already
    # someone else's child, and must go now.
    if os.getppid() != parent:
        os._exit(1)


def run_jobs(
    fn: Callable[[Any], T],
    jobs: Iterable[Any],
    workers: int,
    on_done: Callable[[Any, T | None, BaseException | None], None],
) -> None:
    """Call ``fn(job)`` for every job on ``workers`` processes; ``on_done(job, result, error)`` runs in
    this process as each finishes (``VideoError`` is passed as ``error``, other errors propagate).

    At most ``2 * workers`` jobs are in flight, so memory does not grow with the number of jobs. With one worker, or
    a list of one job, the jobs run in this process, as they are: its threads are left as they are, for the
    training that may follow, and no pool is started for a single job.
    """
    if workers <= 1 or (isinstance(jobs, Sized) and len(jobs) <= 1):
        for job in jobs:
            try:
                result = fn(job)
            except VideoError as e:
                on_done(job, None, e)
            else:
                on_done(job, result, None)
        return
    jobs = iter(jobs)
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(os.getpid(),)) as pool:
        pending: dict[Future, Any] = {}
        for job in _take(jobs, 2 * workers):
            pending[pool.submit(fn, job)] = job
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                job = pending.pop(fut)
                error = fut.exception()
                if error is not None and not isinstance(error, VideoError):
                    raise error
                on_done(job, None if error else fut.result(), error)
                for nxt in _take(jobs, 1):
                    pending[pool.submit(fn, nxt)] = nxt


def _take(it: Iterator[Any], n: int) -> list[Any]:
    out = []
    for _ in range(n):
        try:
            out.append(next(it))
        except StopIteration:
            break
    return out
