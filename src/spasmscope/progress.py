"""The one progress convention of every long loop: ``progress(stage, done, total)``.

Library loops report how many of ``total`` units (segments, windows, steps, videos) of a named ``stage`` are
done, and draw nothing; the command line turns the calls into bars (``cli.bars``). A caller that wants no
report passes ``None``.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]  # (stage, units done, units in all)
Advance = Callable[[int], None]  # one stage's counter: n more units done (see ``counter``)


def counter(progress: Progress | None, stage: str, total: int, done: int = 0) -> Advance:
    """An ``advance(n=1)`` for a loop of ``total`` units of which ``done`` are already done: each call adds ``n``
    and reports the count to ``progress``. Reports once at creation, so a stage shows before its first unit."""
    state = [done]
    if progress is not None:
        progress(stage, done, total)

    def advance(n: int = 1) -> None:
        state[0] += n
        if progress is not None:
            progress(stage, state[0], total)

    return advance
