"""A grading set-up that cannot start kernels is the grader's failure, never the students'.

`make autograde` first starts a canary kernel as graded kernels are started and imports what the
tests import. A broken set-up grades nobody, says why and exits non-zero; a kernel that cannot
start while grading leaves that submission without a grade, to be graded on the next run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from adversarial.attacks import Chapter
from adversarial.support import (
    ROOT,
    SMALLEST,
    graded_cells_only,
    require_sandbox,
    solution_notebook,
    submit,
)
from instructor.course import Course, chapter_templates
from instructor.executor import KernelStartError
from instructor.grade_task import Job, grade
from instructor.sandbox import SandboxPolicy


@pytest.fixture
def small_course(tmp_path):
    """ch01's set-up, answer and test cells, and one solved submission."""
    require_sandbox()
    root = tmp_path / "course"
    source = root / "solutions" / SMALLEST / f"{SMALLEST}.ipynb"
    source.parent.mkdir(parents=True)
    nbformat.write(graded_cells_only(solution_notebook(SMALLEST)), source)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    course = Course(root)
    templates = chapter_templates(course, SMALLEST)
    chapter = Chapter(nbformat.reads(templates.release, as_version=4),
                      graded_cells_only(solution_notebook(SMALLEST)))
    submit(root, "solved", SMALLEST, nbformat.writes(chapter.notebook()).encode())
    return course, chapter, templates


def autograde(python: Path, course: Course, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "instructor.autograde", "--course", str(course.root),
                           "--workers", "1"], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_a_venv_reached_through_a_symlink_grades_like_any_other(small_course, tmp_path):
    course, chapter, _ = small_course
    link = tmp_path / "venv-link"
    link.symlink_to(Path(sys.prefix).resolve(), target_is_directory=True)
    result = autograde(link / "bin" / "python", course, ROOT)
    assert result.returncode == 0, result.stderr
    with Gradebook(course.gradebook_url) as gradebook:
        assert gradebook.find_submission(SMALLEST, "solved").score == sum(chapter.points.values())


def test_a_broken_setup_grades_nobody_and_says_why(small_course, tmp_path):
    """Two checkouts, one venv: the grader runs from a second checkout while the venv's editable
    install of course_utils points at this one, which the sandbox does not show."""
    course, _, _ = small_course
    other = tmp_path / "other-checkout"
    for package in ("course_utils", "instructor"):
        shutil.copytree(ROOT / package, other / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    result = autograde(Path(sys.executable), course, other)
    assert result.returncode != 0
    message = " ".join(result.stderr.split())
    assert "grading set-up is broken, nothing was graded" in message
    assert f"expected from {other / 'course_utils'}" in message
    assert f"points at {ROOT}" in message
    assert not list((course.root / "autograded").glob("*/*/*"))
    with Gradebook(course.gradebook_url) as gradebook:
        assert gradebook.assignment_submissions(SMALLEST) == []


def test_a_kernel_that_cannot_start_gives_no_grade(small_course):
    """Not a zero for the student: the task fails with KernelStartError, which autograde turns
    into no grade and a non-zero exit."""
    course, chapter, templates = small_course
    raw = course.submitted("solved", SMALLEST).read_bytes()
    starved = SandboxPolicy(memory_bytes=32 * 2**20)  # too little for the kernel to start
    job = Job("solved", SMALLEST, raw, templates.grading, templates.release, timeout=30,
              policy=starved)
    with pytest.raises(KernelStartError, match="the grading kernel did not start"):
        grade(job)
