"""Imports run one way along the pipeline: the import-linter contract in pyproject.toml holds on the tree, and
fails when a lower stage imports a higher one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lint(src: Path, cwd: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with the project's contract on the package under ``src`` (found first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [str(Path(sys.executable).parent / "lint-imports"), "--config", str(cwd / "pyproject.toml"), "--no-cache"]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_tree_keeps_the_layers():
    result = _lint(ROOT / "src", ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_a_wrong_way_import_breaks_the_contract(tmp_path):
    shutil.copytree(ROOT / "src" / "spasmscope", tmp_path / "src" / "spasmscope", ignore=shutil.ignore_patterns("backbones", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    video = tmp_path / "src" / "spasmscope" / "data" / "video.py"
    video.write_text(video.read_text() + "\nfrom spasmscope.screening.events import detections  # noqa: E402,F401\n")
    result = _lint(tmp_path / "src", tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and "spasmscope.data.video -> spasmscope.screening.events" in result.stdout
