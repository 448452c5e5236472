"""Every chapter graded as instructors grade it, and against plain nbgrader on the same file.

One course holds every chapter, as a term does. For each chapter three submissions -- the solved
notebook, the untouched one, and a partly correct one (the answer of the first test cell solved,
a later answer calling the course's reference implementation, every other answer left blank) --
go through one `make collect`, `make autograde`, `make feedback` and `make grades`; one plain
`nbgrader autograde` grades a copy of each partial one in a second course folder (with the same
gradebook, under another student id). Then, for each chapter:
- solved: full marks, every test cell's points. Its hidden tests call references that call other
  references (the distance functions, affine_relu, convolution, spatial batch norm), which the
  guard must let through. No cell of it raised, though nbgrader's execution is a quick run (its
  demo cells train for seconds, see `runtime.quick`): the quick size costs no one points. nbval
  runs each solution at its own size, as `pytest solutions` (part of `make test`);
- untouched: 0 for every test cell, the grader intact;
- partial: every test cell gets the points plain nbgrader gives it, full points for some and
  none for others, except the test of the answer that calls the reference, which the grader
  refuses (0 here, more from plain nbgrader: the refusal alone costs those points);
- feedback and grades.csv: each test's points as in the gradebook; no word about changed course
  code for anyone (course cells that install the student's code are not tampering).
Plain nbgrader grades only the partial notebook: the solved and untouched ones would cost two more
executions of every chapter for what the points of the notebook already say. The grading runs
on one worker, so that each chapter's share of the time is the seconds its notebooks took
(reported at the end of `make test`, see conftest.py); the cluster tests run two.
"""

from __future__ import annotations

import ast
import copy
import csv
import importlib
import json
import pkgutil
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

import course_utils
from adversarial import attacks
from adversarial.support import (
    ROOT,
    check_raised_nothing,
    make_course,
    require_sandbox,
    solution_notebook,
)
from instructor import autograde
from instructor.course import Course, nbgrader

pytestmark = pytest.mark.xdist_group("round-trip")
CHAPTERS = sorted(path.name for path in (ROOT / "solutions").glob("ch*") if path.is_dir())
STUDENTS = ("solved", "untouched", "partial")
PLAIN_STUDENT = "plain_partial"  # the partial submission, graded by plain nbgrader
REFUSED = "may not call the course's reference implementation"
TAMPERING = "your code changed"
FEEDBACK_ROW = re.compile(r"<code>([\w.-]+)</code></td>\s*<td>([\d.e+-]+) / ([\d.e+-]+)</td>")


def graded_functions(chapter: str) -> set[str]:
    """Names of the course_utils functions marked @graded_in(chapter)."""
    names = set()
    for info in pkgutil.walk_packages(course_utils.__path__, "course_utils."):
        module = importlib.import_module(info.name)
        names.update(name for name, value in vars(module).items()
                     if getattr(value, "__graded_in__", None) == chapter)
    return names


def reference_caller(ch: attacks.Chapter, chapter: str) -> tuple[str, list[str]]:
    """The first answer after the first one whose top-level definitions are all functions with
    a reference graded in `chapter`, and those functions' names."""
    references = graded_functions(chapter)
    for answer in answers_with_tests(ch)[1:]:
        body = ast.parse(ch.solved[answer]).body
        names = [node.name for node in body if isinstance(node, ast.FunctionDef)]
        if names and all(isinstance(node, (ast.FunctionDef, ast.Import, ast.ImportFrom, ast.Expr))
                         for node in body) and set(names) <= references:
            return answer, names
    raise AssertionError(f"{chapter}: no answer defines only functions with a graded reference")


def answers_with_tests(ch: attacks.Chapter) -> list[str]:
    """The answers followed by a test cell of their own, in notebook order."""
    return [answer for answer in ch.answers if answer in ch.test_of]


def first_tested(ch: attacks.Chapter) -> list[str]:
    """The answers that the first test cell needs (usually one): solved in the partial one."""
    return ch.answers[:ch.answers.index(answers_with_tests(ch)[0]) + 1]


def submissions(ch: attacks.Chapter, chapter: str) -> tuple[dict[str, bytes], str]:
    """The three submissions, and the answer of the partial one that calls the reference."""
    blank = {answer: ch.cell(ch.release, answer).source for answer in ch.answers}
    caller, names = reference_caller(ch, chapter)
    partial = {**blank, caller: attacks.calls_reference(*names, chapter=chapter)}
    for answer in first_tested(ch):
        del partial[answer]
    notebooks = {"solved": ch.notebook(), "untouched": copy.deepcopy(ch.release),
                 "partial": ch.notebook(partial)}
    encoded = {name: nbformat.writes(notebook).encode() for name, notebook in notebooks.items()}
    return encoded, caller


def make(target: str, course: Path, *variables: str) -> str:
    """`make TARGET COURSE=course ...` as instructors type it, with this venv."""
    result = subprocess.run(["make", "-s", "-C", str(ROOT), target, "STAMP=",
                             f"BIN={Path(sys.executable).parent}", f"COURSE={course}", *variables],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"make {target} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def scores(course: Course, chapter: str, tests: list[str],
           students: tuple[str, ...] = STUDENTS) -> dict[str, dict[str, float]]:
    with Gradebook(course.gradebook_url) as gradebook:
        return {student: {test: gradebook.find_grade(test, chapter, chapter, student).score
                          for test in tests} for student in students}


@dataclass
class Graded:
    """One chapter of the round trip: its submissions' scores from both graders, its CSV rows."""

    chapter: str
    ch: attacks.Chapter
    caller: str
    course: Course
    pipeline: dict[str, dict[str, float]]
    plain: dict[str, dict[str, float]]
    csv_rows: dict[str, dict[str, str]]

    def marker(self, student: str) -> dict:
        path = self.course.autograded(student, self.chapter).parent / autograde.MARKER
        return json.loads(path.read_text())

    def autograded(self, student: str) -> str:
        return self.course.autograded(student, self.chapter).read_text()


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory) -> dict[str, Graded]:
    """Every chapter's three submissions through the instructors' commands and plain nbgrader."""
    require_sandbox()
    root = tmp_path_factory.mktemp("round_trip")
    exports = root / "lms-export"
    exports.mkdir()
    cases = {}
    for chapter in CHAPTERS:
        release = nbformat.read(ROOT / "assignments" / chapter / f"{chapter}.ipynb", as_version=4)
        ch = attacks.Chapter(release, solution_notebook(chapter))
        files, caller = submissions(ch, chapter)
        for student, raw in files.items():
            (exports / f"{student}_{chapter}.ipynb").write_bytes(raw)
        cases[chapter] = (ch, caller)

    course = Course(make_course(root / "course", CHAPTERS))
    make("collect", course.root, f"SUBMISSIONS={exports}")
    make("autograde", course.root, "WORKERS=1")
    make("feedback", course.root)
    make("grades", course.root)
    with open(course.root / "grades.csv") as file:
        csv_rows = list(csv.DictReader(file))

    plain = Course(make_course(root / "plain", CHAPTERS))
    shutil.copy(course.root / "gradebook.db", plain.root / "gradebook.db")
    for chapter in CHAPTERS:
        shutil.copytree(course.submitted("partial", chapter).parent,
                        plain.submitted(PLAIN_STUDENT, chapter).parent)
    nbgrader(plain, "autograde", "*")
    graded = {}
    for chapter, (ch, caller) in cases.items():
        tests = list(ch.points)
        rows = {row["student_id"]: row for row in csv_rows if row["chapter"] == chapter}
        graded[chapter] = Graded(chapter, ch, caller, course, scores(course, chapter, tests),
                                 scores(plain, chapter, tests, (PLAIN_STUDENT,)), rows)
    return graded


@pytest.fixture(params=CHAPTERS)
def graded(request, round_trip) -> Graded:
    return round_trip[request.param]


def test_every_submission_was_graded(round_trip, record_property):
    """The run graded all of them; each chapter's grading seconds go to the cost summary."""
    seconds = {}
    for chapter, case in round_trip.items():
        seconds[chapter] = sum(case.marker(student)["seconds"] for student in STUDENTS)
    record_property("chapter_seconds", seconds)
    assert all(value > 0 for value in seconds.values())


def test_solved_scores_full_marks(graded):
    assert graded.pipeline["solved"] == graded.ch.full_marks(), (
        f"{graded.chapter}: the solution lost points")
    assert REFUSED not in graded.autograded("solved"), "a hidden test's reference was refused"


def test_untouched_scores_zero(graded):
    assert graded.pipeline["untouched"] == {test: 0.0 for test in graded.ch.points}


def test_partial_scores_exactly_the_tests_it_passes(graded):
    refused = graded.ch.test_of[graded.caller]
    plain, pipeline = graded.plain[PLAIN_STUDENT], graded.pipeline["partial"]
    solved = answers_with_tests(graded.ch)[0]
    assert pipeline[graded.ch.test_of[solved]] > 0, "the solved answer's test failed"
    assert 0 in pipeline.values(), "no test of the partial notebook failed"
    assert {t: s for t, s in pipeline.items() if t != refused} == \
        {t: s for t, s in plain.items() if t != refused}


def test_an_answer_calling_the_reference_is_refused(graded):
    refused = graded.ch.test_of[graded.caller]
    assert graded.plain[PLAIN_STUDENT][refused] > 0, (
        "the reference-calling answer is not a correct one")
    assert graded.pipeline["partial"][refused] == 0
    assert REFUSED in graded.autograded("partial")


@pytest.mark.parametrize("student", STUDENTS)
def test_feedback_gives_each_tests_points_and_reports_no_tampering(graded, student):
    html = graded.course.feedback(student, graded.chapter).read_text()
    shown = {test: float(score) for test, score, _ in FEEDBACK_ROW.findall(html)}
    assert shown == graded.pipeline[student]
    assert TAMPERING not in html
    assert not [m for m in graded.marker(student)["messages"] if TAMPERING in m]


def test_grades_csv_has_each_students_score(graded):
    assert set(graded.csv_rows) == set(STUDENTS)
    for student, row in graded.csv_rows.items():
        assert float(row["score"]) == sum(graded.pipeline[student].values())
        assert float(row["max_score"]) == sum(graded.ch.points.values())


def test_the_solution_raised_nothing_under_the_grader(graded):
    executed = nbformat.reads(graded.autograded("solved"), as_version=4)
    check_raised_nothing(executed, solution_notebook(graded.chapter), graded.chapter)
