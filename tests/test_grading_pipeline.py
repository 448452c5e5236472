"""What nbgrader makes of every chapter: assignments/ is exactly what nbgrader generates from
solutions/ now, and no student notebook contains solution code or hidden-test text.

Grading itself, through the instructors' commands and against plain nbgrader, is in
test_instructor_round_trip.py.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from adversarial.support import check_raised_nothing

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(path.name for path in (ROOT / "solutions").glob("ch*") if path.is_dir())
SOLUTION_REGION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
HIDDEN_REGION = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """Run nbgrader in `course` with the venv's bin/ on PATH (nbgrader shells out to alembic)."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    result = subprocess.run([str(Path(bin_dir) / "nbgrader"), *args], cwd=course, env=env,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, (
        f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def notebook_path(folder: Path, chapter: str) -> Path:
    return folder / chapter / f"{chapter}.ipynb"


def grade_ids(notebook: nbformat.NotebookNode, kind: str) -> dict[str, nbformat.NotebookNode]:
    """Cells whose nbgrader metadata sets `kind` ("solution" or "grade"), by grade_id."""
    return {cell.metadata.nbgrader["grade_id"]: cell for cell in notebook.cells
            if cell.metadata.get("nbgrader", {}).get(kind)}


def generate(chapter: str, course: Path) -> Path:
    """Generate the student notebook of `chapter` in a fresh course folder; return its path."""
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / chapter, course / "solutions" / chapter)
    nbgrader(course, "generate_assignment", chapter, "--force")
    return notebook_path(course / "assignments", chapter)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_assignments_match_generated(chapter, tmp_path):
    committed = nbformat.read(notebook_path(ROOT / "assignments", chapter), as_version=4)
    generated = nbformat.read(generate(chapter, tmp_path), as_version=4)
    assert len(committed.cells) == len(generated.cells), (
        "run `make assignments` and commit the result")
    for index, (ours, theirs) in enumerate(zip(committed.cells, generated.cells, strict=True)):
        assert ours == theirs, (
            f"{chapter} cell {index} differs from nbgrader's output: run `make assignments`")
    assert committed.metadata == generated.metadata


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_student_notebook_leaks_nothing(chapter):
    solution = nbformat.read(notebook_path(ROOT / "solutions", chapter), as_version=4)
    student_text = notebook_path(ROOT / "assignments", chapter).read_text()
    for marker in MARKERS:
        assert marker not in student_text, f"{chapter}: student notebook contains '{marker}'"

    secret, public = [], []
    for cell in solution.cells:
        regions = SOLUTION_REGION.findall(cell.source) + HIDDEN_REGION.findall(cell.source)
        secret += regions
        public.append(HIDDEN_REGION.sub("", SOLUTION_REGION.sub("", cell.source)))
    public_lines = {line.strip() for text in public for line in text.splitlines()}
    # A line leaks if it is only in solution or hidden-test regions and shows up for students.
    for region in secret:
        for line in region.splitlines():
            line = line.strip()
            if len(line) < 8 or line.startswith("#") or line in public_lines:
                continue
            assert json.dumps(line)[1:-1] not in student_text, (
                f"{chapter}: student notebook leaks `{line}`")


def test_check_raised_nothing_catches_an_error_outside_raises_exception_cells():
    def notebook(error: bool) -> nbformat.NotebookNode:
        failure = [nbformat.v4.new_output("error", ename="ValueError", evalue="bad", traceback=[])]
        expected = nbformat.v4.new_code_cell("raise KeyError", outputs=failure,
                                             metadata={"tags": ["raises-exception"]})
        other = nbformat.v4.new_code_cell("y = 1", outputs=failure if error else [])
        return nbformat.v4.new_notebook(cells=[expected, other])

    check_raised_nothing(notebook(error=False), notebook(error=False), "demo")
    with pytest.raises(pytest.fail.Exception, match="cell 1 raised ValueError"):
        check_raised_nothing(notebook(error=True), notebook(error=False), "demo")
