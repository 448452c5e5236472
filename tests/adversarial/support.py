"""Shared set-up of the instructor tests: the sandbox check and a temporary course."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest

from instructor.sandbox import sandbox_available

ROOT = Path(__file__).resolve().parents[2]
SMALLEST = "ch01_introduction"


def require_sandbox() -> None:
    """Skip without bubblewrap, except under CI, where a missing sandbox is a failure."""
    ok, why = sandbox_available()
    if ok:
        return
    message = f"the grading sandbox is unavailable: {why}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI must install bubblewrap: see .ci/run)")
    pytest.skip(message)


def require_chapter(chapter: str = SMALLEST) -> None:
    if not (ROOT / "solutions" / chapter / f"{chapter}.ipynb").exists():
        pytest.fail(f"solutions/{chapter} is missing: the instructor tests grade that chapter")


def make_course(folder: Path, chapters: list[str]) -> Path:
    """A course folder with the repository's nbgrader config and the given chapters' sources."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    for chapter in chapters:
        shutil.copytree(ROOT / "solutions" / chapter, folder / "solutions" / chapter)
    return folder


def solution_notebook(chapter: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)


def submit(course: Path, student: str, chapter: str, raw: bytes) -> Path:
    path = course / "submitted" / student / chapter / f"{chapter}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return path
