"""The one exception type for bad input, so the CLI can print it as one line."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input from the user: names the file, the offending value and the fix.

    The CLI prints ``str(error)`` on one line and exits non-zero without a traceback.
    """

    def __init__(self, path: str | Path | None, problem: str, fix: str = "", line: int | None = None):
        self.path = None if path is None else str(path)
        self.problem = problem
        self.fix = fix
        self.line = line
        super().__init__(str(self))

    def __reduce__(self):
        # Rebuilt from its parts, so it crosses process boundaries (Ray workers, loader workers) whole.
        return type(self), (self.path, self.problem, self.fix, self.line)

    def __str__(self) -> str:
        where = self.path or ""
        if self.line is not None:
            where += f" line {self.line}"
        text = f"{where}: {self.problem}" if where else self.problem
        return f"{text}; {self.fix}" if self.fix else text


class VideoError(InputError):
    """A video that cannot be read: missing, empty, truncated, not a video, no video stream."""


class SettingError(InputError, ValueError):
    """A setting out of range, raised by a config's constructor: the setting and its value, and the fix.

    A ``ValueError`` as well, as constructors that check their arguments raise; an ``InputError``, so the command
    line prints it as one line with no file named.
    """

    def __init__(self, problem: str, fix: str):
        super().__init__(None, problem, fix)

    def __reduce__(self):
        return type(self), (self.problem, self.fix)
