"""Every chapter graded as instructors grade it, and against plain nbgrader on the same files.

For each chapter three submissions -- the solved notebook, the untouched one, and a partly
correct one (the answer of the first test cell solved, a later answer calling the course's
reference implementation, every other answer left blank) -- go through `make collect`, the sandboxed
`make autograde`, `make feedback` and `make grades`; plain `nbgrader autograde` grades copies of
the same files in a second course folder. Then:
- solved: full marks from both. Its hidden tests call references that call other references
  (the distance functions, affine_relu, convolution, spatial batch norm), which the guard must
  let through. Its graded notebook passes the check nbval makes of the solution: this is the
  suite's one sandboxed execution of each solution notebook;
- untouched: 0 from both, the grader intact;
- partial: every test cell gets the points plain nbgrader gives it, except the test of the
  answer that calls the reference, which the grader refuses (0 here, more from plain nbgrader:
  the refusal alone costs those points);
- feedback and grades.csv: each test's points as in the gradebook; no word about changed course
  code for anyone (course cells that install the student's code are not tampering).
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
from adversarial.support import ROOT, check_like_nbval, make_course, require_sandbox, solution_notebook
from instructor import autograde
from instructor.course import Course, nbgrader

CHAPTERS = sorted(path.name for path in (ROOT / "solutions").glob("ch*") if path.is_dir())
STUDENTS = ("solved", "untouched", "partial")
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
    return {name: nbformat.writes(notebook).encode() for name, notebook in notebooks.items()}, caller


def make(target: str, course: Path, *variables: str) -> str:
    """`make TARGET COURSE=course ...` as instructors type it, with this venv."""
    result = subprocess.run(["make", "-s", "-C", str(ROOT), target, "STAMP=",
                             f"BIN={Path(sys.executable).parent}", f"COURSE={course}", *variables],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"make {target} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def scores(course: Course, chapter: str, tests: list[str]) -> dict[str, dict[str, float]]:
    with Gradebook(course.gradebook_url) as gradebook:
        return {student: {test: gradebook.find_grade(test, chapter, chapter, student).score
                          for test in tests} for student in STUDENTS}


@dataclass
class Graded:
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


@pytest.fixture(scope="module", params=[pytest.param(chapter, marks=pytest.mark.xdist_group(
    f"round-trip-{chapter}")) for chapter in CHAPTERS])
def graded(request, tmp_path_factory) -> Graded:
    require_sandbox()
    chapter = request.param
    root = tmp_path_factory.mktemp(chapter)
    plain = Course(make_course(root / "plain", [chapter]))
    nbgrader(plain, "generate_assignment", chapter, "--force",
             f"--CourseDirectory.release_directory={root / 'release'}")
    release = nbformat.read(root / "release" / chapter / f"{chapter}.ipynb", as_version=4)
    ch = attacks.Chapter(release, solution_notebook(chapter))
    files, caller = submissions(ch, chapter)
    exports = root / "lms-export"
    exports.mkdir()
    for student, raw in files.items():
        (exports / f"{student}_{chapter}.ipynb").write_bytes(raw)

    course = Course(make_course(root / "course", [chapter]))
    make("collect", course.root, f"SUBMISSIONS={exports}")
    make("autograde", course.root)
    make("feedback", course.root)
    make("grades", course.root)
    with open(course.root / "grades.csv") as file:
        csv_rows = {row["student_id"]: row for row in csv.DictReader(file)}

    shutil.copytree(course.root / "submitted", plain.root / "submitted")
    nbgrader(plain, "autograde", chapter)
    tests = list(ch.points)
    return Graded(chapter, ch, caller, course, scores(course, chapter, tests),
                  scores(plain, chapter, tests), csv_rows)


def test_solved_scores_full_marks_as_with_plain_nbgrader(graded):
    full = graded.ch.full_marks()
    assert graded.plain["solved"] == full, "plain nbgrader does not give the solution full marks"
    assert graded.pipeline["solved"] == full, f"{graded.chapter}: the solution lost points"
    assert REFUSED not in graded.autograded("solved"), "a hidden test's reference was refused"


def test_untouched_scores_zero_as_with_plain_nbgrader(graded):
    zero = {test: 0.0 for test in graded.ch.points}
    assert graded.plain["untouched"] == graded.pipeline["untouched"] == zero


def test_partial_scores_exactly_the_tests_it_passes(graded):
    refused = graded.ch.test_of[graded.caller]
    plain, pipeline = graded.plain["partial"], graded.pipeline["partial"]
    solved = answers_with_tests(graded.ch)[0]
    assert pipeline[graded.ch.test_of[solved]] > 0, "the solved answer's test failed"
    assert {t: s for t, s in pipeline.items() if t != refused} == \
        {t: s for t, s in plain.items() if t != refused}


def test_an_answer_calling_the_reference_is_refused(graded):
    refused = graded.ch.test_of[graded.caller]
    assert graded.plain["partial"][refused] > 0, "the reference-calling answer is not a correct one"
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


def test_the_solution_ran_as_nbval_checks_it(graded):
    executed = nbformat.reads(graded.autograded("solved"), as_version=4)
    check_like_nbval(executed, solution_notebook(graded.chapter), graded.chapter)
