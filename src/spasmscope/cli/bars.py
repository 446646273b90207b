"""Progress bars on standard error: the command line's drawing of the library's ``progress(stage, done, total)``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import rich.progress
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from spasmscope.progress import Progress

COLUMNS = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())


@contextmanager
def bars(draw: bool = True) -> Iterator[Progress | None]:
    """A ``progress(stage, done, total)`` that draws one bar per stage, in the order the stages start; ``None``
    (no report) unless ``draw``."""
    if not draw:
        yield None
        return
    tasks: dict[str, TaskID] = {}
    # Started at the first stage: a command refused before any work leaves its one-line error alone on stderr,
    # where a display stopped with no bar would print an empty line before it.
    drawn = rich.progress.Progress(*COLUMNS, console=Console(stderr=True))

    def progress(stage: str, done: int, total: int) -> None:
        if not tasks:
            drawn.start()
        if stage not in tasks:
            tasks[stage] = drawn.add_task(stage, total=total, completed=done)
        else:
            drawn.update(tasks[stage], completed=done, total=total)

    try:
        yield progress
    finally:
        if tasks:
            drawn.stop()
