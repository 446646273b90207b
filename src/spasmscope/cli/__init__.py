"""The ``spasmscope`` command line: it parses, calls one library function per command, and reports.

Bad input ends with one line on standard error naming the file, the value and the fix, and exit status 2; no
traceback. Commands live beside this file by pipeline stage (``data``, ``study``, ``screening``, ``pretrain``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from spasmscope.cli import data, pretrain, review, screening, study  # noqa: F401  (each registers its commands)
from spasmscope.cli.app import EXIT_BAD_INPUT, app
from spasmscope.errors import InputError


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(ctx: typer.Context) -> None:
    """Speed and memory against their limits (benchmarks/run.py of a source checkout; `python benchmarks/run.py --help` lists its options)."""
    import runpy

    script = Path(__file__).resolve().parents[3] / "benchmarks" / "run.py"
    if not script.is_file():
        raise InputError(script, "the benchmark script is not in this installation", "run it from a source checkout: python benchmarks/run.py")
    sys.argv = [str(script), *ctx.args]
    runpy.run_path(str(script), run_name="__main__")


def main() -> None:
    """Console entry point: run the app; bad input is one line on stderr and exit status 2."""
    try:
        app()
    except InputError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        typer.echo("interrupted; finished work is kept, run the same command again to resume", err=True)
        sys.exit(130)
