"""`make autograde SCHEDULER=...` on a real Dask cluster: `dask scheduler` and two
`dask worker --nthreads 1` on loopback, each in its own session and working folder as on
separate machines, started with the commands of instructor/README.md ("On several machines").

- A worker killed (SIGKILL) mid-run: the run finishes on the other one; each of 12 submissions
  of two chapters is graded once (none of those the dead worker had finished is graded again),
  with the expected grade, and nothing of the dead worker is left running, its sandboxed kernel
  included.
- The scheduler killed mid-run (the 6 submissions of one chapter): the command stops with a
  message saying how many were stored, and the workers stop; with a new scheduler and
  workers, a re-run grades exactly the others.

The chapters are ch01 and ch06 with their ungraded teaching cells left out, as in
test_instructor_class.py; the submissions are correct, partially correct and blank.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import sqlalchemy
from dask.distributed import Client
from nbgrader.api import Gradebook

from adversarial import attacks
from adversarial.support import (
    ROOT,
    graded_cells_only,
    require_chapter,
    require_sandbox,
    solution_notebook,
    submit,
)
from instructor import autograde
from instructor.course import Course, chapter_templates

pytestmark = pytest.mark.xdist_group("instructor-cluster")
CHAPTERS = ("ch01_introduction", "ch06_architectures")
PER_CHAPTER = 6
BIN = Path(sys.executable).parent
# What each grading machine's shell has: the venv first on PATH, the repository importable.
ENVIRONMENT = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
               "OMP_NUM_THREADS": "1"}
RESULT_LINE = re.compile(r"^(ch\d\d_\w+) (\S+): [\d.]+", re.MULTILINE)


@dataclass
class Classroom:
    """A course folder with the submissions collected, and the grades each must get."""

    course: Course
    expected: dict[tuple[str, str], dict[str, float]]  # (student, chapter): points per test

    def copy(self, folder: Path, chapters: tuple[str, ...] = CHAPTERS) -> Classroom:
        """A fresh course folder with the submissions of `chapters` only."""
        shutil.copytree(self.course.root, folder)
        for student, chapter in self.expected:
            if chapter not in chapters:
                shutil.rmtree(folder / "submitted" / student / chapter)
        return Classroom(Course(folder), {(student, chapter): points for (student, chapter), points
                                          in self.expected.items() if chapter in chapters})


@dataclass
class Run:
    """What one `make autograde` printed and returned."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float


def chapter_class(ch: attacks.Chapter, rng: random.Random) -> list[attacks.Submission]:
    """A correct, a blank and partially correct notebooks of one chapter."""
    students = [attacks.Submission("correct", attacks._raw(ch.notebook()), ch.full_marks()),
                attacks.Submission("blank", attacks._raw(ch.release),
                                   {test: 0.0 for test in ch.points})]
    for k in range(PER_CHAPTER - len(students)):
        wrong = rng.sample(ch.answers, rng.randint(1, len(ch.answers) - 1))
        notebook = ch.notebook({answer: ch.wrong(answer) for answer in wrong})
        students.append(attacks.Submission(f"partial{k}", attacks._raw(notebook), ch.expect(wrong)))
    return students


@pytest.fixture(scope="module")
def classroom(tmp_path_factory) -> Classroom:
    require_sandbox()
    folder = tmp_path_factory.mktemp("classroom")
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    rng = random.Random(0)
    expected = {}
    for chapter in CHAPTERS:
        require_chapter(chapter)
        source = folder / "solutions" / chapter / f"{chapter}.ipynb"
        source.parent.mkdir(parents=True)
        nbformat.write(graded_cells_only(solution_notebook(chapter)), source)
        release = chapter_templates(Course(folder), chapter).release
        ch = attacks.Chapter(nbformat.reads(release, as_version=4),
                             graded_cells_only(solution_notebook(chapter)))
        for student in chapter_class(ch, rng):
            submit(folder, student.name, chapter, student.raw)
            expected[(student.name, chapter)] = student.expected
    return Classroom(Course(folder), expected)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """A scheduler and two workers on loopback, and the grading command, each in its own
    session; leaving the `with` block SIGKILLs whatever of them still runs."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.address = f"tcp://127.0.0.1:{port}"
        self.processes: dict[str, subprocess.Popen] = {}

    def __enter__(self) -> Cluster:
        try:
            self.spawn("scheduler", ["dask", "scheduler", "--host", "127.0.0.1",
                                     "--port", str(self.port), "--no-dashboard"])
            for name in ("w1", "w2"):
                self.spawn(name, ["dask", "worker", self.address, "--nthreads", "1",
                                  "--nworkers", "1", "--name", name,
                                  "--local-directory", str(self.folder / name), "--no-dashboard"])
            with Client(self.address, timeout=60) as client:
                client.wait_for_workers(2, timeout=120)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        for name in self.processes:
            self.kill(name)

    def spawn(self, name: str, command: list[str], cwd: Path | None = None) -> subprocess.Popen:
        """Start `command` in its own session and folder (`cwd`, or one named after it)."""
        cwd = cwd or self.folder / name
        cwd.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f"{name}.out", "w") as out, \
                open(self.folder / f"{name}.err", "w") as err:
            process = subprocess.Popen(command, cwd=cwd, env=ENVIRONMENT, stdout=out, stderr=err,
                                       start_new_session=True)
        self.processes[name] = process
        return process

    def autograde(self, course: Course, name: str) -> subprocess.Popen:
        """`make autograde SCHEDULER=...` as instructors type it, with this venv."""
        return self.spawn(name, ["make", "-s", "-C", str(ROOT), "autograde", "STAMP=",
                                 f"BIN={BIN}", f"COURSE={course.root}",
                                 f"SCHEDULER={self.address}"], cwd=ROOT)

    def wait_until(self, condition, run: str, timeout: float = 600) -> None:
        """Wait until `condition()`, failing if the command `run` ends first or it takes long."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.processes[run].poll() is not None:
                pytest.fail(f"{run} ended before the fault came:\n"
                            + (self.folder / f"{run}.err").read_text()[-3000:])
            assert time.monotonic() < deadline, f"no fault after {timeout} s"
            time.sleep(0.2)

    def finish(self, name: str, timeout: float = 600) -> Run:
        start = time.monotonic()
        try:
            returncode = self.processes[name].wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name} still ran after {timeout} s")
        return Run(returncode, (self.folder / f"{name}.out").read_text(),
                   (self.folder / f"{name}.err").read_text(), time.monotonic() - start)

    def kill(self, name: str) -> None:
        process = self.processes[name]
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def exit_by_themselves(*processes: subprocess.Popen, timeout: float = 60) -> bool:
    try:
        for process in processes:
            process.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def markers(course: Course) -> int:
    return sum(1 for _ in (course.root / "autograded").glob(f"*/*/{autograde.MARKER}"))


def stat(pid: int | str) -> list[str]:
    """/proc/PID/stat's fields after the command name: [1] the parent, [19] the start time."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone
        return []


def process_tree(pid: int) -> dict[int, str]:
    """The processes under `pid` (not itself), each with its start time (pids get reused)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        if fields := stat(entry.name):
            children.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    tree, todo = {}, [pid]
    while todo:
        for child, started in children.get(todo.pop(), []):
            tree[child] = started
            todo.append(child)
    return tree


def still_running(processes: dict[int, str]) -> list[int]:
    return [pid for pid, started in processes.items() if stat(pid)[19:20] == [started]]


def sandboxes(processes: dict[int, str]) -> list[int]:
    """The bubblewrap processes (sandboxed kernels) among `processes`."""
    found = []
    for pid in processes:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if command.endswith(b"bwrap"):
            found.append(pid)
    return found


def tasks_computed(address: str) -> int:
    """How many grading tasks the scheduler saw finish: a task computed twice counts twice."""
    def count(dask_scheduler) -> int:
        return sum(1 for key, _, finish, *_ in dask_scheduler.transition_log
                   if str(key).startswith("grade-") and finish == "memory")

    with Client(address, timeout=30) as client:
        return client.run_on_scheduler(count)


def wrong_grades(classroom: Classroom) -> list[str]:
    wrong = []
    with Gradebook(classroom.course.gradebook_url) as gradebook:
        for (student, chapter), expected in classroom.expected.items():
            got = {test: gradebook.find_grade(test, chapter, chapter, student).score
                   for test in expected}
            if got != expected:
                wrong.append(f"{chapter} {student}: got {got}, expected {expected}")
    return wrong


def assert_one_row_per_grade_cell_and_student(classroom: Classroom) -> None:
    with Gradebook(classroom.course.gradebook_url) as gradebook:
        rows, distinct = gradebook.db.execute(sqlalchemy.text(
            "select count(*), count(distinct notebook_id || '/' || cell_id) from grade")
        ).one()
        cells = {chapter: len(gradebook.find_notebook(chapter, chapter).grade_cells)
                 for chapter in CHAPTERS}
    assert rows == distinct == sum(cells[chapter] for _, chapter in classroom.expected)


# -- a worker killed mid-run --------------------------------------------------------------------

@dataclass
class WorkerKilled:
    """A run during which worker w1 was killed, and what was left of w1 and w2 after it."""

    classroom: Classroom
    graded_before: int
    killed_sandboxes: list[int]  # the dead worker's kernels when it was killed
    left_running: list[int]  # what of the dead worker still ran after the run
    sandboxes_after: list[int]  # the surviving worker's kernels after the run
    survivor_alive: bool
    tasks_computed: int
    run: Run


@pytest.fixture(scope="module")
def worker_killed(classroom, tmp_path_factory) -> WorkerKilled:
    folder = tmp_path_factory.mktemp("worker-killed")
    ours = classroom.copy(folder / "course")
    graded_first = len(ours.expected) * 2 // 3  # stored when w1 is killed
    with Cluster(folder, free_port()) as cluster:
        w1, w2 = cluster.processes["w1"].pid, cluster.processes["w2"].pid
        cluster.autograde(ours.course, "autograde")
        cluster.wait_until(
            lambda: markers(ours.course) >= graded_first and sandboxes(process_tree(w1)),
            "autograde")
        graded_before, doomed = markers(ours.course), process_tree(w1)
        killed_sandboxes = sandboxes(doomed)
        cluster.kill("w1")
        run = cluster.finish("autograde")
        return WorkerKilled(ours, graded_before, killed_sandboxes, still_running(doomed),
                            sandboxes(process_tree(w2)), cluster.processes["w2"].poll() is None,
                            tasks_computed(cluster.address), run)


def test_the_worker_was_killed_while_grading(worker_killed):
    assert 0 < worker_killed.graded_before < len(worker_killed.classroom.expected)
    assert worker_killed.killed_sandboxes, "w1 ran no kernel when it was killed"


def test_the_run_finishes_on_the_other_worker(worker_killed):
    run = worker_killed.run
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    assert worker_killed.survivor_alive
    assert f"graded {len(worker_killed.classroom.expected)} in" in run.stdout


def test_each_submission_is_graded_once_although_a_worker_died(worker_killed):
    expected = worker_killed.classroom.expected
    graded = Counter((student, chapter)
                     for chapter, student in RESULT_LINE.findall(worker_killed.run.stdout))
    assert graded == Counter(expected.keys()), worker_killed.run.stdout
    assert markers(worker_killed.classroom.course) == len(expected)
    # The dead worker's finished tasks were not graded again: their results were released.
    assert worker_killed.tasks_computed == len(expected)


def test_every_grade_is_the_expected_one_after_a_worker_died(worker_killed):
    wrong = wrong_grades(worker_killed.classroom)
    assert not wrong, "\n".join(wrong)


def test_one_row_per_grade_cell_and_student_after_a_worker_died(worker_killed):
    assert_one_row_per_grade_cell_and_student(worker_killed.classroom)


def test_no_kernel_outlives_its_worker_or_its_task(worker_killed):
    assert worker_killed.left_running == []
    assert worker_killed.sandboxes_after == []


# -- the scheduler killed mid-run ---------------------------------------------------------------

@dataclass
class SchedulerKilled:
    """A run during which the scheduler was killed, and the re-run on a cluster started again."""

    classroom: Classroom
    address: str
    stored: int  # markers once the failed run had ended
    failed: Run  # its seconds count from the kill
    workers_stopped: bool  # the old workers exited by themselves
    rerun: Run


@pytest.fixture(scope="module")
def scheduler_killed(classroom, tmp_path_factory) -> SchedulerKilled:
    folder = tmp_path_factory.mktemp("scheduler-killed")
    ours = classroom.copy(folder / "course", CHAPTERS[:1])
    port = free_port()
    with Cluster(folder / "first", port) as cluster:
        cluster.autograde(ours.course, "autograde")
        cluster.wait_until(lambda: markers(ours.course) >= 2, "autograde")
        cluster.kill("scheduler")
        failed = cluster.finish("autograde", timeout=300)
        stored = markers(ours.course)
        workers_stopped = exit_by_themselves(cluster.processes["w1"], cluster.processes["w2"])
    # Started again, on the same address.
    with Cluster(folder / "again", port) as cluster:
        cluster.autograde(ours.course, "autograde")
        rerun = cluster.finish("autograde")
    return SchedulerKilled(ours, cluster.address, stored, failed, workers_stopped, rerun)


def test_the_scheduler_was_killed_mid_run(scheduler_killed):
    assert 2 <= scheduler_killed.stored < len(scheduler_killed.classroom.expected)


def test_the_command_stops_with_a_clear_message(scheduler_killed):
    failed, stored = scheduler_killed.failed, scheduler_killed.stored
    missing = len(scheduler_killed.classroom.expected) - stored
    assert failed.returncode != 0
    assert failed.seconds < 120
    assert (f"autograde: lost the connection to the Dask scheduler {scheduler_killed.address}: "
            f"{stored} submission(s) were graded and stored, {missing} were not. Start the "
            "scheduler and its workers again and re-run autograde: it grades only those."
            ) in failed.stderr, failed.stderr
    assert "Traceback" not in failed.stderr, failed.stderr


def test_the_workers_stop_without_their_scheduler(scheduler_killed):
    assert scheduler_killed.workers_stopped


def test_the_rerun_grades_only_what_is_missing(scheduler_killed):
    rerun, stored = scheduler_killed.rerun, scheduler_killed.stored
    expected = scheduler_killed.classroom.expected
    assert rerun.returncode == 0, f"{rerun.stdout}\n{rerun.stderr}"
    assert rerun.stdout.splitlines()[0] == (
        f"{len(expected) - stored} submission(s) to grade, {stored} up to date")
    assert markers(scheduler_killed.classroom.course) == len(expected)


def test_every_grade_is_the_expected_one_after_the_scheduler_died(scheduler_killed):
    wrong = wrong_grades(scheduler_killed.classroom)
    assert not wrong, "\n".join(wrong)


def test_one_row_per_grade_cell_and_student_after_the_scheduler_died(scheduler_killed):
    assert_one_row_per_grade_cell_and_student(scheduler_killed.classroom)
