"""The grader against hostile submissions built from the real ch01 notebook.

One class of submissions -- a solved and an untouched control, and notebooks that crash the
kernel, loop forever, exhaust memory, flood output, edit or delete cells, change metadata and
tags, monkey-patch the checks, read secrets and open connections, plus unreadable files -- is
graded once by `make autograde`'s code path in the sandbox. Every test cell must get exactly
its expected points: each attack scores 0 for what it attacks, nothing else is disturbed.
"""

from __future__ import annotations

import csv
import json
import socket
import sys
import threading
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from adversarial.attacks import Chapter, all_attacks
from adversarial.support import (
    ROOT,
    SMALLEST,
    make_course,
    require_chapter,
    require_sandbox,
    solution_notebook,
    submit,
)
from instructor import autograde, feedback, grades
from instructor.course import Course, chapter_templates

pytestmark = pytest.mark.xdist_group("instructor-adversarial")
NAMES = ["solved", "untouched", "crashes", "structure", "metadata", "monkeypatching",
         "ipython_hooks", "interpreter_hooks", "exits", "escapes", "invalid_json", "empty",
         "other_chapter"]


class Listener:
    """A TCP server on the grading machine's loopback that records any connection."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.5)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.server.close()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    require_sandbox()
    require_chapter(SMALLEST)
    course = Course(make_course(tmp_path_factory.mktemp("adversarial"), [SMALLEST]))
    templates = chapter_templates(course, SMALLEST)
    chapter = Chapter(nbformat.reads(templates.release, as_version=4), solution_notebook(SMALLEST))
    victim = submit(course.root, "victim", SMALLEST, nbformat.writes(chapter.notebook()).encode())
    secrets = [str(ROOT / "solutions" / SMALLEST / f"{SMALLEST}.ipynb"),
               str(course.root / "gradebook.db"), str(victim)]
    others = sorted(p for p in (ROOT / "solutions").glob("ch*/*.ipynb")
                    if p.parent.name != SMALLEST)
    other = nbformat.read(others[0], as_version=4) if others else nbformat.v4.new_notebook()
    listener = Listener()
    try:
        submissions = all_attacks(chapter, secrets, listener.port, other)
        for submission in submissions:
            submit(course.root, submission.name, SMALLEST, submission.raw)
        scores = autograde.run(course, workers=2, timeout=20, log=lambda line: None)
        left_running = sandboxed_processes(course)  # right when the command would return
    finally:
        listener.close()
    return course, {s.name: s for s in submissions}, scores, listener, left_running


def sandboxed_processes(course: Course) -> list[str]:
    """Processes still running as the uid of one of this run's kernels."""
    uids = {json.loads(path.read_text()).get("sandbox_uid")
            for path in (course.root / "autograded").glob(f"*/*/{autograde.MARKER}")} - {0, None}
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid in uids:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:100])
        except OSError:
            continue
    return found


@pytest.mark.parametrize("name", NAMES)
def test_each_test_cell_gets_its_expected_points(graded, name):
    course, submissions, _, _, _ = graded
    submission = submissions[name]
    with Gradebook(course.gradebook_url) as gradebook:
        got = {test: gradebook.find_grade(test, SMALLEST, SMALLEST, name).score
               for test in submission.expected}
    assert got == submission.expected, f"{name}: points per test cell differ"


@pytest.mark.parametrize("name", NAMES)
def test_the_student_is_told_what_happened(graded, name):
    course, submissions, _, _, _ = graded
    marker = json.loads((course.autograded(name, SMALLEST).parent / autograde.MARKER).read_text())
    text = "\n".join(marker["messages"]).lower()
    autograded = course.autograded(name, SMALLEST).read_text().lower()
    for words in submissions[name].says:
        assert words.lower() in text or words.lower() in autograded, (
            f"{name}: no mention of '{words}'")


def test_no_kernel_outlives_the_run(graded):
    *_, left_running = graded
    assert left_running == []


def test_exit_costs_no_restart(graded):
    course, _, _, _, _ = graded
    marker_path = course.autograded("exits", SMALLEST).parent / autograde.MARKER
    marker = json.loads(marker_path.read_text())
    assert marker["restarts"] == 0 and not marker["messages"]


def test_the_victim_is_graded_normally(graded):
    """The student whose file the attackers tried to read gets full marks, undisturbed."""
    course, submissions, scores, _, _ = graded
    assert scores[("victim", SMALLEST)] == sum(submissions["solved"].expected.values())


def _outputs(path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "\n".join(json.dumps(cell.get("outputs", [])) for cell in notebook.cells)


def test_secrets_and_network_stay_out_of_reach(graded):
    course, _, _, listener, _ = graded
    text = _outputs(course.autograded("escapes", SMALLEST))
    assert "LEAKED" not in text
    assert listener.connections == 0
    assert "No such file or directory" in text
    assert "Network is unreachable" in text or "unreachable" in text.lower()


def test_output_flood_is_capped(graded):
    course, _, _, _, _ = graded
    assert course.autograded("escapes", SMALLEST).stat().st_size < 3_000_000
    assert "output limit reached" in course.autograded("escapes", SMALLEST).read_text()


def test_a_huge_error_is_shortened_not_dropped(graded):
    """A 5 MB exception message: the error stays (its test scores 0), cut to 10,000 characters."""
    course, _, _, _, _ = graded
    assert course.autograded("crashes", SMALLEST).stat().st_size < 1_000_000
    assert "more characters)" in course.autograded("crashes", SMALLEST).read_text()


def test_patches_are_reported(graded):
    course, _, _, _, _ = graded
    marker_path = course.autograded("monkeypatching", SMALLEST).parent / autograde.MARKER
    marker = json.loads(marker_path.read_text())
    text = "\n".join(marker["messages"])
    for name in ("numpy.allclose", "course_utils.grading.", "builtins.all", "sys.stdout",
                 "showtraceback"):
        assert name in text, f"the report does not name {name}"


def test_feedback_shows_scores_and_messages_but_no_hidden_tests(graded):
    course, submissions, _, _, _ = graded
    pages = feedback.run(course, log=lambda line: None)
    assert len(pages) == len(submissions) + 1  # and the victim
    solution = solution_notebook(SMALLEST)
    secret = feedback.hidden_lines(solution)
    assert secret, "the chapter has no hidden tests to hide"
    for page in pages:
        html = page.read_text()
        text = (html.replace("&#39;", "'").replace("&quot;", '"')
                .replace("&lt;", "<").replace("&gt;", ">"))
        assert not [line for line in secret if line in text], f"{page} shows hidden tests"
        assert "BEGIN HIDDEN TESTS" not in html and "most recent call last" not in html
        assert "Feedback: " in html and "total" in html
    crashes = course.feedback("crashes", SMALLEST).read_text()
    assert "kernel died" in crashes and "hidden tests: not shown" in crashes
    assert "UserWarning" in crashes  # sys.exit's warning is shown, without the grader's paths
    assert str(ROOT) not in crashes and sys.prefix not in crashes


def test_grades_csv_has_one_row_per_student_and_chapter(graded, tmp_path):
    course, submissions, scores, _, _ = graded
    path = tmp_path / "grades.csv"
    count = grades.write(course, path)
    with open(path) as file:
        rows = list(csv.DictReader(file))
    assert count == len(rows) == len(submissions) + 1
    assert {(r["student_id"], r["chapter"]) for r in rows} == {(s, SMALLEST) for s, _ in scores}
    for row in rows:
        assert float(row["score"]) == scores[(row["student_id"], SMALLEST)]
        assert float(row["max_score"]) == sum(submissions["solved"].expected.values())
        assert row["status"] == "graded"


def test_rerun_grades_nothing_when_nothing_changed(graded):
    course, _, _, _, _ = graded
    assert autograde.plan(course, timeout=20, sandboxed=True) == []
