"""A whole class, end to end: 50 submissions graded by `make autograde`'s command, killed once
mid-run, resumed, and every grade checked against the expected one.

The chapter is ch01 with its ungraded teaching cells left out (set-up, answer and test cells
only), so that 50 kernels fit in a CI run; the submissions are generated from it: correct,
partially correct, blank, and adversarial ones.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

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
from instructor import autograde
from instructor.course import Course, chapter_templates

pytestmark = pytest.mark.xdist_group("instructor-class")
CLASS_SIZE = 50


def make_class(ch: attacks.Chapter, other: nbformat.NotebookNode) -> list[attacks.Submission]:
    rng = random.Random(0)
    students = []
    for k in range(14):
        students.append(attacks.Submission(f"correct{k:02d}", attacks._raw(ch.notebook()),
                                           ch.full_marks()))
    for k in range(14):
        wrong = rng.sample(ch.answers, rng.randint(1, len(ch.answers) - 1))
        notebook = ch.notebook({answer: ch.wrong(answer) for answer in wrong})
        students.append(attacks.Submission(f"partial{k:02d}", attacks._raw(notebook),
                                           ch.expect(wrong)))
    for k in range(10):
        students.append(attacks.Submission(f"blank{k:02d}", attacks._raw(ch.release),
                                           {t: 0.0 for t in ch.points}))
    crash = attacks.Submission("crash", attacks._raw(ch.notebook({ch.answers[0]: ch.gated(
        ch.answers[0], "import os\nos._exit(1)")})), ch.expect(ch.answers[:1]))
    hostile = [attacks.structure(ch), attacks.monkeypatching(ch), crash,
               *attacks.unreadable(ch, other)]
    for k in range(CLASS_SIZE - len(students)):
        model = hostile[k % len(hostile)]
        students.append(attacks.Submission(f"{model.name}{k:02d}", model.raw, model.expected))
    return students


def markers(course: Course) -> int:
    return sum(1 for _ in (course.root / "autograded").glob(f"*/*/{autograde.MARKER}"))


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    require_sandbox()
    require_chapter(SMALLEST)
    root = tmp_path_factory.mktemp("class")
    source = root / "solutions" / SMALLEST / f"{SMALLEST}.ipynb"
    source.parent.mkdir(parents=True)
    nbformat.write(graded_cells_only(solution_notebook(SMALLEST)), source)
    (root / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    course = Course(root)
    templates = chapter_templates(course, SMALLEST)
    chapter = attacks.Chapter(nbformat.reads(templates.release, as_version=4),
                              graded_cells_only(solution_notebook(SMALLEST)))
    other = sorted(p for p in (ROOT / "solutions").glob("ch*/*.ipynb") if p.parent.name != SMALLEST)
    students = make_class(chapter, nbformat.read(other[0], as_version=4) if other
                          else nbformat.v4.new_notebook())
    for student in students:
        submit(root, student.name, SMALLEST, student.raw)

    # First run: the real command, killed (client, workers and kernels) once some are stored.
    command = [sys.executable, "-m", "instructor.autograde", "--course", str(root),
               "--workers", "2", "--timeout", "30"]
    first = subprocess.Popen(command, cwd=ROOT, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 900
    while markers(course) < 8 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    done_before = markers(course)
    # Second run resumes.
    lines: list[str] = []
    scores = autograde.run(course, workers=2, timeout=30, log=lines.append)
    return course, students, done_before, scores, lines


def test_the_run_was_killed_mid_way(graded_class):
    _, students, done_before, _, _ = graded_class
    assert 8 <= done_before < len(students), f"{done_before} graded before the kill"


def test_resume_grades_exactly_the_rest(graded_class):
    course, students, done_before, scores, _ = graded_class
    assert len(scores) == len(students) - done_before
    assert markers(course) == len(students)


def test_the_summary_counts_graded_up_to_date_and_failed(graded_class):
    _, students, done_before, _, lines = graded_class
    table = [line.split() for line in lines if line.startswith("  ")]  # the summary's rows
    row = next(cells for cells in table if cells[0] == SMALLEST)
    total = next(cells for cells in table if cells[0] == "all")
    expected = [str(len(students) - done_before), str(done_before), "0"]
    assert row[1:4] == total[1:4] == expected, "\n".join(lines)


def test_every_grade_is_the_expected_one(graded_class):
    course, students, _, _, _ = graded_class
    wrong = []
    with Gradebook(course.gradebook_url) as gradebook:
        submissions = gradebook.assignment_submissions(SMALLEST)
        assert sorted(s.student.id for s in submissions) == sorted(s.name for s in students)
        for student in students:
            got = {test: gradebook.find_grade(test, SMALLEST, SMALLEST, student.name).score
                   for test in student.expected}
            if got != student.expected:
                wrong.append(f"{student.name}: got {got}, expected {student.expected}")
    assert not wrong, "\n".join(wrong)


def test_one_row_per_grade_cell_and_student(graded_class):
    course, students, _, _, _ = graded_class
    with Gradebook(course.gradebook_url) as gradebook:
        rows = gradebook.db.execute(
            __import__("sqlalchemy").text("select count(*), "
                                          "count(distinct notebook_id || '/' || cell_id) "
                                          "from grade")).one()
        cells = len(gradebook.find_notebook(SMALLEST, SMALLEST).grade_cells)
    assert rows[0] == rows[1] == len(students) * cells
