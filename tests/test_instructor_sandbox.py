"""The sandbox in isolation, and how a submission becomes the graded notebook (no kernels)."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest
from nbgrader import utils

from adversarial.support import ROOT, SMALLEST, require_chapter, require_sandbox
from instructor.grade_task import errors_decide, fail_tests
from instructor.sandbox import Sandbox, SandboxPolicy
from instructor.submission import IGNORED_TAGS, grade_cells, rebuild

PROBE = r"""
import json, os, socket, sys
found = {"uid": os.getuid(), "env": sorted(os.environ), "cwd": os.getcwd(),
         "home": sorted(os.listdir(os.environ["HOME"]))}
for name, path in {"solutions": sys.argv[1], "secret": sys.argv[2], "repo": sys.argv[3]}.items():
    found[name] = os.path.exists(path)
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    found["network"] = "open"
except OSError as error:
    found["network"] = error.strerror
try:
    bytearray(3 * 2**30)
    found["memory"] = "allocated"
except MemoryError:
    found["memory"] = "MemoryError"
try:
    with open("/tmp/big", "wb") as file:
        file.write(b"x" * (2 * 2**20))
    found["file"] = "written"
except OSError as error:
    found["file"] = "refused"
import course_utils.grading
found["package"] = course_utils.grading.__name__
print(json.dumps(found))
"""


def test_the_sandbox_shows_only_the_submission_and_the_package(tmp_path):
    require_sandbox()
    secret = tmp_path / "gradebook.db"
    secret.write_text("hidden tests")
    sandbox = Sandbox(home=tmp_path / "home", run_dir=tmp_path / "run",
                      policy=SandboxPolicy(memory_bytes=2 * 2**30, file_bytes=2**20))
    sandbox.prepare()
    (sandbox.home / "mine.ipynb").write_text("{}")
    command = sandbox.wrap([sys.executable, "-c", PROBE, str(ROOT / "solutions"), str(secret),
                            str(ROOT / "README.md")])
    result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "DB_PASSWORD": "hunter2"})
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["uid"] == sandbox.uid != 0
    assert not found["solutions"] and not found["secret"] and not found["repo"]
    assert found["home"] == ["mine.ipynb"] and found["cwd"] == "/home/student"
    assert "DB_PASSWORD" not in found["env"]
    assert found["network"] == "Network is unreachable"
    assert found["memory"] == "MemoryError"
    assert found["file"] == "refused"
    assert found["package"] == "course_utils.grading"


def test_wrap_without_sandbox_runs_the_command_as_is(tmp_path):
    sandbox = Sandbox(home=tmp_path / "h", run_dir=tmp_path / "r", enabled=False)
    assert sandbox.wrap(["python", "-V"]) == ["python", "-V"]


@pytest.fixture(scope="module")
def templates():
    """The ch01 student notebook and a grading template made from the solution (no nbgrader)."""
    require_chapter(SMALLEST)
    release = nbformat.read(ROOT / "assignments" / SMALLEST / f"{SMALLEST}.ipynb", as_version=4)
    return release, nbformat.reads(nbformat.writes(release), as_version=4)


def _raw(notebook) -> bytes:
    return nbformat.writes(notebook).encode()


def test_answers_are_taken_by_grade_id_and_everything_else_from_the_template(templates):
    release, template = templates
    submitted = nbformat.reads(nbformat.writes(release), as_version=4)
    answers = grade_cells(submitted, "solution")
    first, second = list(answers)[:2]
    answers[first].source = "def mine(): return 1"
    tests = grade_cells(submitted, "grade")
    test = next(iter(tests.values()))
    test.source = "pass"
    test.metadata["nbgrader"]["points"] = 1000
    test.metadata["tags"] = ["skip-execution"]
    submitted.cells.append(nbformat.v4.new_code_cell("import os"))
    rebuilt = rebuild(_raw(submitted), template, release)
    graded_answers = grade_cells(rebuilt.notebook, "solution")
    assert graded_answers[first].source == "def mine(): return 1"
    assert graded_answers[second].source == answers[second].source
    graded_tests = grade_cells(rebuilt.notebook, "grade")
    original = grade_cells(template, "grade")
    for grade_id, cell in graded_tests.items():
        assert cell.source == original[grade_id].source
        assert cell.metadata == original[grade_id].metadata
    assert not any(IGNORED_TAGS & set(c.metadata.get("tags", [])) for c in rebuilt.notebook.cells)
    assert len(rebuilt.notebook.cells) == len(template.cells)
    text = "\n".join(rebuilt.messages)
    assert "was edited" in text and "metadata (points)" in text and "not run by the grader" in text


@pytest.mark.parametrize("raw, words", [(b"", "empty"), (b"{ nope", "not valid notebook JSON"),
                                        (b"[1, 2]", "not a Jupyter notebook"),
                                        (b"\xff\xfe", "not a text")])
def test_unreadable_files_are_not_graded(templates, raw, words):
    release, template = templates
    rebuilt = rebuild(raw, template, release)
    assert rebuilt.notebook is None and words in rebuilt.messages[0]


def test_a_notebook_without_this_chapters_answers_is_not_graded(templates):
    release, template = templates
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    rebuilt = rebuild(_raw(other), template, release)
    assert rebuilt.answers_found == 0 and "another chapter" in rebuilt.messages[0]


def test_errors_decide_over_fake_results(templates):
    _, template = templates
    notebook = nbformat.reads(nbformat.writes(template), as_version=4)
    test = next(iter(grade_cells(notebook, "grade").values()))
    points = float(test.metadata["nbgrader"]["points"])
    test.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": str(points)},
                                           execution_count=1),
                    nbformat.v4.new_output("error", ename="AssertionError", evalue="wrong",
                                           traceback=[])]
    assert utils.determine_grade(test)[0] == points  # plain nbgrader: the fake result wins
    errors_decide(notebook)
    assert utils.determine_grade(test)[0] == 0
    test.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "1e9"},
                                           execution_count=1)]
    errors_decide(notebook)  # plain nbgrader would raise ValueError and stop the whole run
    assert utils.determine_grade(test)[0] == 0 and test.outputs[0].ename == "InvalidScore"
    fail_tests(notebook, "Not graded: because")
    assert all(utils.determine_grade(c)[0] == 0 for c in grade_cells(notebook, "grade").values())
