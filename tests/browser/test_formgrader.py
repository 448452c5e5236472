"""A written answer marked in nbgrader's formgrader, in Chromium, is what `make grades` reports.

No chapter has a written answer yet, so the course is built for the test: ch01 cut down to its
set-up cell, its first answer and that answer's test, plus a written answer (a markdown cell that
nbgrader grades by hand, `"solution": true, "grade": true`). Two students answer everything; the
real grader grades them (sandboxed, as `make autograde` does), which leaves both `needs manual
grading`. A Jupyter server with nbgrader's formgrader then serves the course folder (its
nbgrader_config.py is found in the server's working directory, its gradebook is the course's
gradebook.db); in formgrader the test types a score into alice's written answer, waits until
formgrader has saved it in the gradebook, and runs `make grades`: alice is `graded` with the
test's point and the manual ones, bob still `needs manual grading`.

Without the system Chromium the test is skipped, except under CI, where it fails.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from adversarial import attacks
from adversarial.support import (
    ROOT,
    SMALLEST,
    graded_cells_only,
    require_chapter,
    require_sandbox,
    solution_notebook,
    submit,
)
from instructor import autograde, grades
from instructor.course import Course, chapter_templates

from .conftest import (
    VIEWPORT,
    LabServer,
    start_server,
    stop,
    write_jupyter_config,
)

pytestmark = [
    pytest.mark.xdist_group("browser"),  # with the other browser tests: one Chromium
    # nbgrader's own gradebook writes, on SQLAlchemy 2, warn about every row they create.
    pytest.mark.filterwarnings("ignore:Object of type:sqlalchemy.exc.SAWarning"),
]

CHAPTER = SMALLEST
FIRST_TEST = "test_broadcast_add"  # 1 point, solved by both students
WRITTEN = "explain_broadcasting"
WRITTEN_POINTS = 3
MANUAL_SCORE = 2
ANSWERS = {
    "alice": "Indexing with None adds an axis of length 1, which broadcasting repeats: "
             "per_row[:, None] has shape (M, 1), so row i gets per_row[i].",
    "bob": "Numpy repeats the smaller array.",
}
SAVE_TIMEOUT_S = 30
# formgrader.js's FormGrader object, once its grade models have been fetched
GRADES_LOADED_JS = "() => window.formgrader && formgrader.grades && formgrader.grades.loaded"


def written_answer_cells() -> list[nbformat.NotebookNode]:
    """The question (plain markdown) and the manually graded answer cell below it."""
    question = nbformat.v4.new_markdown_cell(
        "Explain in two sentences why `x + per_row[:, None]` adds `per_row[i]` to row `i`.")
    answer = nbformat.v4.new_markdown_cell(
        "`None` inserts an axis of length 1 and broadcasting stretches it along the columns.",
        metadata={"nbgrader": {"grade": True, "solution": True, "locked": False, "task": False,
                               "points": WRITTEN_POINTS, "grade_id": WRITTEN,
                               "schema_version": 3}})
    return [question, answer]


def chapter_with_written_answer() -> nbformat.NotebookNode:
    """ch01's set-up cell, first answer and first test (graded_cells_only keeps them in that
    order), followed by the written answer."""
    notebook = graded_cells_only(solution_notebook(CHAPTER))
    notebook.cells = notebook.cells[:3] + written_answer_cells()
    grade_ids = [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in notebook.cells]
    assert grade_ids[2] == FIRST_TEST, f"ch01's first test is no longer {FIRST_TEST}: {grade_ids}"
    return notebook


def submission(chapter: attacks.Chapter, written: str) -> bytes:
    """The released notebook with the code answers solved and `written` as the written answer."""
    notebook = chapter.notebook()
    chapter.cell(notebook, WRITTEN).source = written
    return nbformat.writes(notebook).encode()


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory) -> Course:
    """The course folder, with both submissions graded by the real grader."""
    require_sandbox()
    require_chapter(CHAPTER)
    root = tmp_path_factory.mktemp("formgrader_course")
    (root / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    source = root / "solutions" / CHAPTER / f"{CHAPTER}.ipynb"
    source.parent.mkdir(parents=True)
    nbformat.write(chapter_with_written_answer(), source)
    course = Course(root)
    release = nbformat.reads(chapter_templates(course, CHAPTER).release, as_version=4)
    chapter = attacks.Chapter(release, nbformat.read(source, as_version=4))
    for student, text in ANSWERS.items():
        submit(root, student, CHAPTER, submission(chapter, text))
    lines: list[str] = []
    scores = autograde.run(course, workers=1, timeout=60, log=lines.append)
    assert set(scores) == {(student, CHAPTER) for student in ANSWERS}, "\n".join(lines)
    return course


@pytest.fixture(scope="module")
def formgrader_server(graded_course, tmp_path_factory, chromium_path) -> Iterator[LabServer]:
    """A Jupyter server (with nbgrader's formgrader) whose root and working directory is the
    course folder, with the same isolated Jupyter dirs as conftest's JupyterLab."""
    home = tmp_path_factory.mktemp("formgrader_home")
    write_jupyter_config(home / "config", home / "exchange")
    server = start_server("server", graded_course.root, home)
    yield server
    stop(server)


@pytest.fixture
def formgrader_page(browser):
    """A fresh page of the session's Chromium."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def submission_notebook_id(course: Course, student: str) -> str:
    """The gradebook id of the student's notebook: formgrader's page is submissions/<id>."""
    with Gradebook(course.gradebook_url) as gradebook:
        return gradebook.find_submission_notebook(CHAPTER, CHAPTER, student).id


def wait_for_manual_score(course: Course, student: str, expected: float) -> None:
    """Poll the gradebook until the written answer's manual score is `expected`."""
    deadline = time.monotonic() + SAVE_TIMEOUT_S
    while True:
        with Gradebook(course.gradebook_url) as gradebook:
            score = gradebook.find_grade(WRITTEN, CHAPTER, CHAPTER, student).manual_score
        if score == expected:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"formgrader did not save {student}'s score {expected} within "
                        f"{SAVE_TIMEOUT_S} s (the gradebook has {score})")
        time.sleep(0.25)


def make_grades(course: Course) -> dict[str, dict[str, str]]:
    """`make grades` as instructors type it, with this venv; grades.csv by student."""
    result = subprocess.run(["make", "-s", "-C", str(ROOT), "grades", "STAMP=",
                             f"BIN={Path(sys.executable).parent}", f"COURSE={course.root}"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"make grades failed:\n{result.stdout}\n{result.stderr}"
    with open(course.root / "grades.csv") as file:
        return {row["student_id"]: row for row in csv.DictReader(file)}


def csv_rows(course: Course) -> dict[str, dict[str, str]]:
    return {row["student_id"]: row for row in grades.rows(course)}


def test_a_score_given_in_formgrader_is_what_make_grades_reports(
        graded_course, formgrader_server, formgrader_page):
    max_score = f"{1 + WRITTEN_POINTS:g}"
    before = csv_rows(graded_course)
    for student in ANSWERS:
        assert (before[student]["status"], before[student]["score"]) == (
            "needs manual grading", "1"), f"{student} after autograde: {before[student]}"

    page = formgrader_page
    page.goto(formgrader_server.url("formgrader"))
    page.get_by_text("Manage Assignments").first.wait_for()
    page.locator("#main-table").get_by_text(CHAPTER, exact=True).wait_for()

    submission_id = submission_notebook_id(graded_course, "alice")
    page.goto(formgrader_server.url(f"formgrader/submissions/{submission_id}/"))
    page.get_by_text(ANSWERS["alice"]).wait_for()
    # formgrader binds the score inputs to its models only once it has fetched the grades; a
    # score typed before that is never saved (seen on a loaded machine)
    page.wait_for_function(GRADES_LOADED_JS)
    score_box = page.locator(f"input.score#{WRITTEN}")
    score_box.fill(str(MANUAL_SCORE))
    score_box.press("Tab")  # formgrader saves on the change event
    wait_for_manual_score(graded_course, "alice", MANUAL_SCORE)

    after = make_grades(graded_course)
    assert after["alice"] == {"student_id": "alice", "chapter": CHAPTER,
                              "score": f"{1 + MANUAL_SCORE:g}", "max_score": max_score,
                              "status": "graded"}
    assert (after["bob"]["status"], after["bob"]["score"], after["bob"]["max_score"]) == (
        "needs manual grading", "1", max_score)
    summary = (graded_course.root / "grades-summary.md").read_text()
    chapter_row = next(line for line in summary.splitlines() if line.startswith(f"| {CHAPTER} "))
    assert [cell.strip() for cell in chapter_row.strip("|").split("|")] == [
        CHAPTER, "2", "2", "0", "1", "75.0%", "75.0%", "75.0%", "75.0%"]
