"""The nbgrader round trip for every chapter, in a temporary course folder.

For each chapter: (a) assignments/ is exactly what nbgrader generates from solutions/ now;
(b) the student notebook with the solution code put back autogrades to full marks;
(c) the untouched student notebook autogrades to zero without crashing the grader;
(d) no student notebook contains solution code or hidden-test text;
(e) `nbgrader export` gives one CSV row per student with the expected scores.
The repository's own gradebook is never touched.

The autograde of (b) is also this suite's one execution of each solution notebook: it runs every
cell of the solution, hidden tests included, so the graded notebook is checked as nbval would
check the solution (no cell raises; cells tagged nbval-check-output print what they printed when
committed) instead of executing the notebook a second time. `make test-gpu` and instructors run
nbval itself (`pytest solutions/chNN_topic/chNN_topic.ipynb`).
"""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(path.name for path in (ROOT / "solutions").glob("ch*") if path.is_dir())
SOLUTION_REGION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
HIDDEN_REGION = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
CHECK_OUTPUT_TAG = "nbval-check-output"


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """Run nbgrader in `course` with the venv's bin/ on PATH (nbgrader shells out to alembic)."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    result = subprocess.run([str(Path(bin_dir) / "nbgrader"), *args], cwd=course, env=env,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def notebook_path(folder: Path, chapter: str) -> Path:
    return folder / chapter / f"{chapter}.ipynb"


def grade_ids(notebook: nbformat.NotebookNode, kind: str) -> dict[str, nbformat.NotebookNode]:
    """Cells whose nbgrader metadata sets `kind` ("solution" or "grade"), by grade_id."""
    return {cell.metadata.nbgrader["grade_id"]: cell for cell in notebook.cells
            if cell.metadata.get("nbgrader", {}).get(kind)}


def solved_submission(student: nbformat.NotebookNode, solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student notebook with each solution cell filled in from the instructor's notebook."""
    submission = nbformat.from_dict(json.loads(json.dumps(student)))
    answers = grade_ids(solution, "solution")
    for grade_id, cell in grade_ids(submission, "solution").items():
        cell.source = "\n".join(line for line in answers[grade_id].source.splitlines()
                                if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    return submission


def generate(chapter: str, course: Path) -> Path:
    """Generate the student notebook of `chapter` in a fresh course folder; return its path."""
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / chapter, course / "solutions" / chapter)
    nbgrader(course, "generate_assignment", chapter, "--force")
    return notebook_path(course / "assignments", chapter)


def printed(cell: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """What a cell showed as text, as nbval compares it: each stream's text (consecutive writes
    joined) and the text/plain of results and displays; images and widget views are left out."""
    shown: list[tuple[str, str]] = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            if shown and shown[-1][0] == output.name:
                shown[-1] = (output.name, shown[-1][1] + output.text)
            else:
                shown.append((output.name, output.text))
        elif output.output_type in ("execute_result", "display_data") and "text/plain" in output.data:
            if not any(kind.startswith("image/") or "widget" in kind for kind in output.data):
                shown.append(("text/plain", output.data["text/plain"]))
    return shown


def check_like_nbval(graded: nbformat.NotebookNode, solution: nbformat.NotebookNode, chapter: str) -> None:
    """The executed notebook has no error (outside cells tagged raises-exception) and each cell
    tagged nbval-check-output printed what the committed solution notebook shows."""
    assert [c.cell_type for c in graded.cells] == [c.cell_type for c in solution.cells], (
        f"{chapter}: the graded notebook's cells do not line up with the solution's")
    for index, (ran, committed) in enumerate(zip(graded.cells, solution.cells)):
        tags = committed.metadata.get("tags", [])
        errors = [o for o in ran.get("outputs", []) if o.output_type == "error"]
        if errors and "raises-exception" not in tags:
            pytest.fail(f"{chapter} cell {index} raised {errors[0].ename}: {errors[0].evalue}\n"
                        f"{committed.source[:500]}")
        if CHECK_OUTPUT_TAG in tags:
            assert printed(ran) == printed(committed), (
                f"{chapter} cell {index} (tagged {CHECK_OUTPUT_TAG}) printed something else than "
                f"the committed notebook; if that is intended, refresh the outputs with "
                f"`python -m instructor.refresh_outputs solutions/{chapter}/{chapter}.ipynb`")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_assignments_match_generated(chapter, tmp_path):
    committed = nbformat.read(notebook_path(ROOT / "assignments", chapter), as_version=4)
    generated = nbformat.read(generate(chapter, tmp_path), as_version=4)
    assert len(committed.cells) == len(generated.cells), "run `make assignments` and commit the result"
    for index, (ours, theirs) in enumerate(zip(committed.cells, generated.cells)):
        assert ours == theirs, f"{chapter} cell {index} differs from nbgrader's output: run `make assignments`"
    assert committed.metadata == generated.metadata


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_autograde_round_trip(chapter, tmp_path):
    """Solved submission: full marks, and every cell ran as nbval requires; untouched: zero,
    grader intact; export: one row each."""
    solution = nbformat.read(notebook_path(ROOT / "solutions", chapter), as_version=4)
    student = nbformat.read(generate(chapter, tmp_path), as_version=4)
    for name, notebook in {"solved": solved_submission(student, solution), "untouched": student}.items():
        path = notebook_path(tmp_path / "submitted" / name, chapter)
        path.parent.mkdir(parents=True)
        nbformat.write(notebook, path)
    nbgrader(tmp_path, "autograde", chapter)
    nbgrader(tmp_path, "export", "--to", str(tmp_path / "grades.csv"))
    with open(tmp_path / "grades.csv") as file:
        rows = [row for row in csv.DictReader(file) if row["assignment"] == chapter]
    grades = {row["student_id"]: row for row in rows}
    assert len(rows) == 2 and set(grades) == {"solved", "untouched"}, f"export gave {rows}"

    max_score = sum(cell.metadata.nbgrader["points"] for cell in grade_ids(solution, "grade").values())
    assert max_score > 0, f"{chapter} has no graded cells"
    for row in rows:
        assert float(row["max_score"]) == max_score
    assert float(grades["solved"]["score"]) == max_score, (
        f"{chapter}: solved submission scored {grades['solved']['score']}/{max_score}")
    assert float(grades["untouched"]["score"]) == 0, f"{chapter}: untouched notebook scored points"
    graded = nbformat.read(notebook_path(tmp_path / "autograded" / "solved", chapter), as_version=4)
    check_like_nbval(graded, solution, chapter)


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
            assert json.dumps(line)[1:-1] not in student_text, f"{chapter}: student notebook leaks `{line}`"


def test_check_like_nbval_catches_changed_outputs_and_errors():
    def notebook(text: str, error: bool = False) -> nbformat.NotebookNode:
        checked = nbformat.v4.new_code_cell("print(x)", metadata={"tags": [CHECK_OUTPUT_TAG]},
                                            outputs=[nbformat.v4.new_output("stream", name="stdout", text=text)])
        other = nbformat.v4.new_code_cell("y = 1", outputs=[nbformat.v4.new_output(
            "error", ename="ValueError", evalue="bad", traceback=[])] if error else [])
        return nbformat.v4.new_notebook(cells=[checked, other])

    committed = notebook("accuracy 0.93\n")
    check_like_nbval(notebook("accuracy 0.93\n"), committed, "demo")
    with pytest.raises(AssertionError, match="printed something else"):
        check_like_nbval(notebook("accuracy 0.91\n"), committed, "demo")
    with pytest.raises(pytest.fail.Exception, match="cell 1 raised ValueError"):
        check_like_nbval(notebook("accuracy 0.93\n", error=True), committed, "demo")
