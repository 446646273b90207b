"""Progress bars on standard error (rich): count, elapsed time and time left."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)


@contextmanager
def bar(total: int, label: str, done: int = 0) -> Iterator[Callable[..., None]]:
    """A progress bar for ``total`` steps (``done`` of them already done); yields ``advance(n=1)``."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(label, total=total, completed=done)
        yield lambda n=1: progress.advance(task, n)
