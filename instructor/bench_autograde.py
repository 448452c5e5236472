"""Benchmark: the same N submissions of ch01 graded serially by plain `nbgrader autograde` and
in parallel by `make autograde` (Dask LocalCluster, one sandboxed kernel per task), in one run.

    python -m instructor.bench_autograde [N]       (also `make bench`, as "autograde")

Both graders start from a course where the chapter is already in the gradebook; the parallel
time includes what `make autograde` does on top of grading (generate_assignment to build the
grading template, starting the cluster), and its grading phase alone is shown too. Both must
give the same scores.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from instructor import autograde
from instructor.course import ROOT, Course, nbgrader
from instructor.sandbox import sandbox_available

CHAPTER = "ch01_introduction"


def _submissions(release: nbformat.NotebookNode, solution: nbformat.NotebookNode, count: int) -> list[bytes]:
    """Alternately solved and untouched notebooks."""
    answers = {c.metadata.nbgrader["grade_id"]: c.source for c in solution.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    solved = nbformat.from_dict(nbformat.reads(nbformat.writes(release), as_version=4))
    for cell in solved.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = "\n".join(line for line in answers[meta["grade_id"]].splitlines()
                                    if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
    return [nbformat.writes(solved if k % 2 == 0 else release).encode() for k in range(count)]


def _course(folder: Path) -> Course:
    """A course with the chapter in its gradebook, its student notebook in folder/release."""
    folder.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    shutil.copytree(ROOT / "solutions" / CHAPTER, folder / "solutions" / CHAPTER)
    course = Course(folder)
    nbgrader(course, "generate_assignment", CHAPTER, "--force",
             f"--CourseDirectory.release_directory={folder / 'release'}")
    return course


def _submit(course: Course, submissions: list[bytes]) -> None:
    for k, raw in enumerate(submissions):
        path = course.submitted(f"student{k:02d}", CHAPTER)
        path.parent.mkdir(parents=True)
        path.write_bytes(raw)


def _scores(course: Course) -> dict[str, float]:
    with Gradebook(course.gradebook_url) as gradebook:
        return {s.student.id: s.score for s in gradebook.assignment_submissions(CHAPTER)}


def run(count: int = 8) -> dict[str, float]:
    """Time both graders on `count` submissions; print a table; return the timings."""
    sandboxed, why = sandbox_available()
    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as folder:
        serial, parallel = _course(Path(folder) / "serial"), _course(Path(folder) / "parallel")
        release = nbformat.read(serial.root / "release" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
        solution = nbformat.read(ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
        raws = _submissions(release, solution, count)
        _submit(serial, raws)
        _submit(parallel, raws)

        start = time.perf_counter()
        nbgrader(serial, "autograde", CHAPTER)
        serial_seconds = time.perf_counter() - start

        lines: list[str] = []
        start = time.perf_counter()
        autograde.run(parallel, workers=os.cpu_count(), sandboxed=sandboxed, log=lines.append)
        parallel_seconds = time.perf_counter() - start
        grading = float(next(line.split(" in ")[1].split(" s")[0] for line in lines if line.startswith("graded ")))
        same = _scores(serial) == _scores(parallel)

    print(f"autograde: {count} submissions of {CHAPTER} (half solved, half untouched), "
          f"{os.cpu_count()} cores{'' if sandboxed else ', parallel path UNSANDBOXED: ' + why}")
    print(f"  {'grader':<46}{'seconds':>9}{'s/submission':>14}{'speed-up':>10}")
    rows = [("nbgrader autograde (serial, no sandbox)", serial_seconds),
            ("make autograde (Dask, sandboxed), whole command", parallel_seconds),
            ("make autograde, grading phase only", grading)]
    for name, seconds in rows:
        print(f"  {name:<46}{seconds:>9.1f}{seconds / count:>14.2f}{serial_seconds / seconds:>9.2f}x")
    print(f"  same scores from both: {same}\n")
    return {"serial": serial_seconds, "parallel": parallel_seconds, "grading": grading, "same": same}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    run(int(argv[0]) if argv else 8)


if __name__ == "__main__":
    main()
