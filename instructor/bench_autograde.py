"""Benchmark: grading throughput at class size, every grader on the same submissions in one run.

    python -m instructor.bench_autograde [--per-chapter N] [--chapters CH ...]
                                         (also `make bench`, as "autograde")

N submissions of each chapter (default 24 of ch02 and 24 of ch05; a third solved, a third
partial -- every other answer solved -- and a third blank) are graded by
- plain `nbgrader autograde`, serially, one chapter after the other (no sandbox);
- `make autograde`'s command (`python -m instructor.autograde`) with 1 and with 2 workers
  (Dask, each submission in its own sandboxed kernel);
- bare execution: the notebook the grader runs for each submission (the grading template with
  the student's answers) executed serially by nbclient, without sandbox, guard or gradebook.
Each grader runs as a child process in a fresh copy of the course whose chapters are already in
the gradebook (as after `make release`). Its CPU time is the whole machine's busy time during
the run (from /proc/stat: sandboxed kernels run as other users in their own PID namespaces, so
the rusage of children would miss some of them), so run the benchmark on an otherwise idle
machine. The fixed cost of `make autograde` is its whole time less its
grading phase (registering the chapters, building templates, starting the cluster, the canary
kernel); its overhead per submission is its grading phase with one worker over bare execution.
All graders must give the same scores.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbgrader.api import Gradebook

from instructor.course import ROOT, Course, chapter_templates, nbgrader
from instructor.sandbox import sandbox_available
from instructor.submission import nbgrader_meta, rebuild

CHAPTERS = ("ch02_image_classification", "ch05_cnn")
KINDS = ("solved", "partial", "blank")
GRADING_PHASE = re.compile(r"^graded (\d+) in ([\d.]+) s$", re.M)
GOALS = (("make autograde, 2 workers vs serial nbgrader", 1.8),
         ("2 workers vs 1 worker", 1.7))
MAX_OVERHEAD = 0.20


@dataclass
class Timing:
    """One grader's run: wall seconds, CPU seconds of it and its children, grading phase."""

    name: str
    seconds: float
    cpu_seconds: float
    grading_seconds: float | None = None  # make autograde's grading phase alone

    @property
    def fixed_seconds(self) -> float | None:
        return None if self.grading_seconds is None else self.seconds - self.grading_seconds


def submissions(chapter: str, release: nbformat.NotebookNode, count: int) -> dict[str, bytes]:
    """`count` submissions of `chapter`, by student id: solved, partial and blank in turn."""
    solution = nbformat.read(ROOT / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    answers = {nbgrader_meta(c)["grade_id"]: c.source for c in solution.cells
               if nbgrader_meta(c).get("solution")}
    kinds = {}
    for kind in KINDS:
        notebook = nbformat.from_dict(nbformat.reads(nbformat.writes(release), as_version=4))
        answer_cells = [c for c in notebook.cells if nbgrader_meta(c).get("solution")]
        solved = {"solved": answer_cells, "partial": answer_cells[::2], "blank": []}[kind]
        for cell in solved:
            cell.source = _without_markers(answers[nbgrader_meta(cell)["grade_id"]])
        kinds[kind] = nbformat.writes(notebook).encode()
    return {f"{KINDS[k % 3]}{k:02d}": kinds[KINDS[k % 3]] for k in range(count)}


def _without_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines()
                     if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)


def make_course(folder: Path, chapters: tuple[str, ...], count: int) -> Course:
    """A course with `chapters` in its gradebook and `count` submissions of each."""
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    course = Course(folder)
    for chapter in chapters:
        shutil.copytree(ROOT / "solutions" / chapter, folder / "solutions" / chapter)
        release = nbformat.reads(chapter_templates(course, chapter).release, as_version=4)
        for student, raw in submissions(chapter, release, count).items():
            path = course.submitted(student, chapter)
            path.parent.mkdir(parents=True)
            path.write_bytes(raw)
    return course


def busy_cpu_seconds() -> float:
    """CPU seconds the machine has been busy since boot, all cores (/proc/stat's first line)."""
    fields = [int(field) for field in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def timed(name: str, work: Callable[[], str]) -> tuple[Timing, str]:
    """Run `work` (which runs child processes); its wall time and the machine's CPU time."""
    before = busy_cpu_seconds()
    start = time.perf_counter()
    out = work()
    seconds = time.perf_counter() - start
    timing = Timing(name, seconds, busy_cpu_seconds() - before)
    print(f"  ({name}: {seconds:.1f} s, {timing.cpu_seconds:.1f} CPU s)", file=sys.stderr,
          flush=True)  # as each finishes: the table comes at the end
    return timing, out


def child(command: list[str]) -> str:
    """Run `command` as the graders run, one BLAS thread; its stdout."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def serial_nbgrader(course: Course, chapters: tuple[str, ...]) -> Timing:
    timing, _ = timed("nbgrader autograde (serial, no sandbox)",
                      lambda: "".join(nbgrader(course, "autograde", chapter).stdout
                                      for chapter in chapters))
    return timing


def make_autograde(course: Course, workers: int, sandboxed: bool) -> Timing:
    command = [sys.executable, "-m", "instructor.autograde", "--course", str(course.root),
               "--workers", str(workers), *([] if sandboxed else ["--no-sandbox"])]
    timing, out = timed(f"make autograde, {workers} worker{'s' * (workers > 1)}",
                        lambda: child(command))
    timing.grading_seconds = float(GRADING_PHASE.search(out).group(2))
    return timing


def bare(course: Course, chapters: tuple[str, ...], folder: Path) -> Timing:
    """The notebooks the grader runs, built beforehand, run by nbclient one after the other."""
    for chapter in chapters:
        templates = chapter_templates(course, chapter)
        template = nbformat.reads(templates.grading, as_version=4)
        release = nbformat.reads(templates.release, as_version=4)
        for student, submitted in course.submissions():
            if submitted == chapter:
                raw = course.submitted(student, chapter).read_bytes()
                nbformat.write(rebuild(raw, template, release).notebook,
                               folder / f"{chapter}-{student}.ipynb")
    command = [sys.executable, "-m", "instructor.bench_autograde", "--bare", str(folder)]
    timing, _ = timed("bare nbclient execution (serial)", lambda: child(command))
    return timing


def run_bare(folder: Path) -> None:
    """Child process of `bare`: execute every notebook in `folder` with nbclient, in order, as a
    quick run like the graders' (nbgrader sets NBGRADER_EXECUTION, see `runtime.quick`)."""
    os.environ["NBGRADER_EXECUTION"] = "autograde"  # the kernels inherit it
    for path in sorted(folder.glob("*.ipynb")):
        with tempfile.TemporaryDirectory(prefix="bare-") as work:
            NotebookClient(nbformat.read(path, as_version=4), timeout=120, allow_errors=True,
                           kernel_name="python3", resources={"metadata": {"path": work}}).execute()


def scores(course: Course, chapters: tuple[str, ...]) -> dict[tuple[str, str], float]:
    with Gradebook(course.gradebook_url) as gradebook:
        return {(s.student.id, chapter): s.score for chapter in chapters
                for s in gradebook.assignment_submissions(chapter)}


def run(per_chapter: int = 24, chapters: tuple[str, ...] = CHAPTERS) -> dict[str, Timing]:
    """Time every grader on the same submissions; print the table and the goals; return it."""
    sandboxed, why = sandbox_available()
    count = per_chapter * len(chapters)
    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as folder:
        courses = {name: make_course(Path(folder) / name, chapters, per_chapter)
                   for name in ("serial", "one", "two", "bare")}
        (Path(folder) / "bare-notebooks").mkdir()
        two = make_autograde(courses["two"], 2, sandboxed)
        one = make_autograde(courses["one"], 1, sandboxed)
        serial = serial_nbgrader(courses["serial"], chapters)
        plain = bare(courses["bare"], chapters, Path(folder) / "bare-notebooks")
        graded = [scores(courses[name], chapters) for name in ("serial", "one", "two")]
    runs = [serial, one, two, plain]
    print(f"autograde: {per_chapter} submissions each of {', '.join(chapters)} ({count} in all; "
          f"solved, partial, blank in turn), {os.cpu_count()} cores"
          f"{'' if sandboxed else '; make autograde UNSANDBOXED: ' + why}")
    print(f"  {'grader':<42}{'seconds':>9}{'s/subm.':>9}{'CPU s/subm.':>13}{'fixed s':>9}"
          f"{'speed-up':>10}")
    for timing in runs:
        fixed = "" if timing.fixed_seconds is None else f"{timing.fixed_seconds:.1f}"
        speed_up = serial.seconds / timing.seconds
        print(f"  {timing.name:<42}{timing.seconds:>9.1f}{timing.seconds / count:>9.2f}"
              f"{timing.cpu_seconds / count:>13.2f}{fixed:>9}{speed_up:>9.2f}x")
    print("  speed-up: seconds of serial nbgrader / seconds of the grader, whole commands")
    ratios = {GOALS[0][0]: serial.seconds / two.seconds, GOALS[1][0]: one.seconds / two.seconds}
    for name, goal in GOALS:
        verdict = "met" if ratios[name] >= goal else "NOT met"
        print(f"  {name}: {ratios[name]:.2f}x (goal >= {goal}x: {verdict})")
    phase = two.grading_seconds / one.grading_seconds
    print(f"  grading phases alone: 1 worker {one.grading_seconds:.1f} s, 2 workers "
          f"{two.grading_seconds:.1f} s ({1 / phase:.2f}x)")
    overhead = one.grading_seconds / plain.seconds - 1
    verdict = "met" if overhead <= MAX_OVERHEAD else "NOT met"
    print(f"  overhead of make autograde's grading (1 worker) over bare execution: "
          f"{overhead:+.1%} per submission, {(one.grading_seconds - plain.seconds) / count:+.2f} s "
          f"(goal <= {MAX_OVERHEAD:.0%}: {verdict})")
    print(f"  same scores from every grader: {graded[0] == graded[1] == graded[2]}\n")
    return {timing.name: timing for timing in runs}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-chapter", type=int, default=24, help="submissions per chapter")
    parser.add_argument("--chapters", nargs="+", default=list(CHAPTERS))
    parser.add_argument("--bare", metavar="COURSE", help=argparse.SUPPRESS)  # run_bare's child
    args = parser.parse_args(argv)
    if args.bare:
        run_bare(Path(args.bare))
    else:
        run(args.per_chapter, tuple(args.chapters))


if __name__ == "__main__":
    main()
