"""Shared set-up of the instructor tests: the sandbox check, a temporary course, and the check
that an executed notebook raised nothing."""

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


def graded_cells_only(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with its first code cell (set-up) and its nbgrader cells only."""
    first = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code")
    notebook.cells = [c for i, c in enumerate(notebook.cells)
                      if i == first or c.metadata.get("nbgrader")]
    return notebook


def submit(course: Path, student: str, chapter: str, raw: bytes) -> Path:
    path = course / "submitted" / student / chapter / f"{chapter}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return path


def check_raised_nothing(graded: nbformat.NotebookNode, solution: nbformat.NotebookNode,
                         chapter: str) -> None:
    """No cell of the executed notebook raised, outside the cells the solution tags
    raises-exception (nbval's own check of the solutions, with their outputs, is in `make test`)."""
    assert [c.cell_type for c in graded.cells] == [c.cell_type for c in solution.cells], (
        f"{chapter}: the graded notebook's cells do not line up with the solution's")
    for index, (ran, committed) in enumerate(zip(graded.cells, solution.cells, strict=True)):
        errors = [o for o in ran.get("outputs", []) if o.output_type == "error"]
        if errors and "raises-exception" not in committed.metadata.get("tags", []):
            pytest.fail(f"{chapter} cell {index} raised {errors[0].ename}: {errors[0].evalue}\n"
                        f"{committed.source[:500]}")
