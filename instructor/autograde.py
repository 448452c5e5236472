"""Grade every collected submission in parallel with Dask; the client alone writes the gradebook.

    python -m instructor.autograde [--course DIR] [--db-url URL] [--scheduler ADDRESS]
                                   [--workers N] [--timeout S] [--no-sandbox]

Each Dask task grades one submission in its own sandbox (instructor.grade_task) and returns the
graded notebook; this process stores each result as it arrives: nbgrader's SaveAutoGrades writes
the scores into the gradebook (update-or-create, so nothing is duplicated), the notebook goes to
autograded/, and last a marker with the hash of the submission and of the grading template.
A submission whose marker matches is skipped, so a re-run grades only what changed, and a run
killed at any point loses at most the submissions whose marker was not written yet.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
import warnings
from collections import Counter
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from nbgrader.preprocessors import SaveAutoGrades
from nbgrader.utils import parse_utc
from tqdm import tqdm

from instructor.course import Course, chapter_templates
from instructor.executor import KernelStartError
from instructor.grade_task import Job, Result, grade
from instructor.preflight import SetupError, check_workers
from instructor.sandbox import sandbox_available

GRADER_VERSION = "2"
MARKER = ".autograde.json"


class NotAllGraded(RuntimeError):
    """Some submissions got no grade because the grader failed; a re-run grades them."""


@dataclass
class Pending:
    """A submission to grade, with the hash that identifies this exact grading of it."""

    job: Job
    digest: str


def marker_path(course: Course, student: str, chapter: str) -> Path:
    return course.autograded(student, chapter).parent / MARKER


def read_marker(course: Course, student: str, chapter: str) -> dict:
    try:
        return json.loads(marker_path(course, student, chapter).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def submission_digest(raw: bytes, template_digest: str) -> str:
    return hashlib.sha256(raw + template_digest.encode() + GRADER_VERSION.encode()).hexdigest()


def plan(course: Course, timeout: int, sandboxed: bool, force: bool = False) -> list[Pending]:
    """The submissions that still need grading (all of them with `force`)."""
    submissions = course.submissions()
    templates = {chapter: chapter_templates(course, chapter)
                 for chapter in sorted({chapter for _, chapter in submissions})}
    pending = []
    for student, chapter in submissions:
        raw = course.submitted(student, chapter).read_bytes()
        digest = submission_digest(raw, templates[chapter].digest)
        if not force and read_marker(course, student, chapter).get("digest") == digest:
            continue
        job = Job(student, chapter, raw, templates[chapter].grading, templates[chapter].release,
                  timeout=timeout, sandboxed=sandboxed)
        pending.append(Pending(job, digest))
    return pending


def submission_timestamp(course: Course, student: str, chapter: str) -> datetime | None:
    """The submission's timestamp.txt as nbgrader reads it; None when absent or unreadable
    (make collect reports bad ones; one bad file must not stop the class's grading)."""
    path = course.submitted(student, chapter).parent / "timestamp.txt"
    try:
        return parse_utc(path.read_bytes()[:1024].decode("ascii").strip())
    except (OSError, UnicodeDecodeError, ValueError, OverflowError):
        return None


def store(course: Course, result: Result, digest: str | None) -> float:
    """Write one graded submission into the gradebook and autograded/; return its score.

    Without `digest` no marker is written, so the next run grades the submission again.
    """
    notebook = nbformat.reads(result.notebook, as_version=4)
    timestamp = submission_timestamp(course, result.student, result.chapter)
    with Gradebook(course.gradebook_url) as gradebook:
        gradebook.update_or_create_student(result.student)
        if timestamp is not None:
            gradebook.update_or_create_submission(result.chapter, result.student,
                                                  timestamp=timestamp)
        else:
            gradebook.update_or_create_submission(result.chapter, result.student)
    resources = {"nbgrader": {"notebook": result.chapter, "assignment": result.chapter,
                              "student": result.student, "db_url": course.gradebook_url}}
    SaveAutoGrades().preprocess(notebook, resources)
    with Gradebook(course.gradebook_url) as gradebook:
        score = gradebook.find_submission(result.chapter, result.student).score
    path = course.autograded(result.student, result.chapter)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    marker = {"digest": digest, "score": score, "messages": result.messages,
              "seconds": round(result.seconds, 2), "restarts": result.restarts,
              "sandbox_uid": result.sandbox_uid}
    if digest is None:
        return score
    temporary = path.parent / (MARKER + ".tmp")
    temporary.write_text(json.dumps(marker, indent=1))
    os.replace(temporary, path.parent / MARKER)  # the marker appears last, atomically
    return score


def failed_result(job: Job, error: BaseException) -> Result:
    """A submission whose task failed outright (a grader bug, a lost worker): zero, explained."""
    from instructor.grade_task import fail_tests

    notebook = nbformat.reads(job.template, as_version=4)
    reason = (f"Not graded: the grader failed on this submission ({type(error).__name__}); "
              "tell your instructor.")
    fail_tests(notebook, reason)
    return Result(job.student, job.chapter, nbformat.writes(notebook), [reason], 0.0)


class SchedulerLost(RuntimeError):
    """The Dask scheduler went away mid-run; what was stored stays, a re-run grades the rest."""


@dataclass
class Summary:
    """What one run did, per chapter: graded, skipped as up to date, failed and why."""

    graded: Counter = field(default_factory=Counter)
    up_to_date: Counter = field(default_factory=Counter)
    failed: dict[tuple[str, str], str] = field(default_factory=dict)  # (chapter, student): why
    seconds: float = 0.0

    def lines(self) -> list[str]:
        chapters = sorted(set(self.graded) | set(self.up_to_date)
                          | {chapter for chapter, _ in self.failed})
        failed = Counter(chapter for chapter, _ in self.failed)
        out = [f"  {'chapter':<32}{'graded':>8}{'up to date':>12}{'failed':>8}"]
        out += [f"  {c:<32}{self.graded[c]:>8}{self.up_to_date[c]:>12}{failed[c]:>8}"
                for c in chapters]
        total = sum(self.graded.values())
        per = f", {self.seconds / total:.1f} s per submission" if total else ""
        out.append(f"  {'all':<32}{total:>8}{sum(self.up_to_date.values()):>12}"
                   f"{len(self.failed):>8}   in {self.seconds:.0f} s{per}")
        if self.failed:
            out.append("  failed (a re-run grades them again):")
            out += [f"    {chapter} {student}: {why}"
                    for (chapter, student), why in sorted(self.failed.items())]
        return out


def run(course: Course, scheduler: str | None = None, workers: int | None = None,
        timeout: int = 120, sandboxed: bool = True, force: bool = False,
        log=print, progress: bool = False) -> dict[tuple[str, str], float]:
    """Grade what needs grading; return {(student, chapter): score} of this run.

    `log` gets one line per graded submission and, at the end, the run's summary; `progress`
    shows a progress bar on stderr (submissions done / total, failures, time left).
    Raises SetupError, before grading anything, when a canary kernel on a grading machine cannot
    start or imports another course_utils than expected; raises NotAllGraded at the end when a
    submission's kernel could not start (it got no grade, so the next run grades it), and
    SchedulerLost when the connection to the scheduler is lost (what arrived before is stored).
    """
    from dask.distributed import as_completed

    summary = Summary()
    pending = plan(course, timeout, sandboxed, force)
    summary.up_to_date = Counter(chapter for _, chapter in course.submissions())
    summary.up_to_date.subtract(item.job.chapter for item in pending)
    log(f"{len(pending)} submission(s) to grade, {sum(summary.up_to_date.values())} up to date")
    if not pending:
        return {}
    bar = tqdm(total=len(pending), unit="submission", desc="autograde", disable=not progress,
               dynamic_ncols=True)
    say = bar.write if progress else log
    try:
        client, cluster = _connect(scheduler, workers)
    except OSError as error:
        bar.close()
        raise SchedulerLost(f"cannot reach the Dask scheduler {scheduler}: {error}") from None
    scores = {}
    not_graded, lost = [], []
    start = time.perf_counter()
    try:
        check_workers(client, sandboxed)
        futures = {client.submit(grade, item.job, pure=False, retries=1): item for item in pending}
        for future in as_completed(futures):
            # Dropped once yielded: the worker frees the result (a worker that dies later would
            # otherwise have its finished tasks graded again elsewhere).
            item = futures.pop(future)
            job, digest = item.job, item.digest
            try:
                result = future.result()
            except CancelledError:  # the scheduler went away: no grade, graded by the next run
                lost.append(item)
                continue
            except KernelStartError as error:  # the grader's failure: no grade, retried next run
                not_graded.append(f"{job.chapter} {job.student}: {error}")
                summary.failed[(job.chapter, job.student)] = f"not graded, {error}"
                say(f"{job.chapter} {job.student}: not graded, {error}")
                _advance(bar, summary)
                continue
            except Exception as error:  # the task itself failed: zero for now, retried next run
                result, digest = failed_result(job, error), None
                summary.failed[(job.chapter, job.student)] = (
                    f"the grading task failed ({type(error).__name__}: {error}); scored 0 for now")
            try:
                score = store(course, result, digest)
            except Exception as error:  # nbgrader refused the graded notebook: zero, retried
                score = store(course, failed_result(job, error), None)
                summary.failed[(job.chapter, job.student)] = (
                    f"nbgrader refused the graded notebook ({type(error).__name__}: {error}); "
                    "scored 0 for now")
            scores[(job.student, job.chapter)] = score
            if (job.chapter, job.student) not in summary.failed:
                summary.graded[job.chapter] += 1
            note = f" ({len(result.messages)} message(s))" if result.messages else ""
            say(f"{job.chapter} {job.student}: {score:g}{note} [{result.seconds:.1f} s]")
            _advance(bar, summary)
    finally:
        bar.close()
        # Closing a client that lost its scheduler cancels its attempt to reconnect, which
        # distributed logs as an error with a traceback; SchedulerLost below says what happened.
        client_log = logging.getLogger("distributed.client")
        level = client_log.level
        client_log.setLevel(logging.CRITICAL if lost else level)
        try:
            client.close()
        finally:
            client_log.setLevel(level)
        if cluster is not None:
            cluster.close()
    summary.seconds = time.perf_counter() - start
    log(f"graded {len(scores)} in {summary.seconds:.1f} s")
    for line in summary.lines():
        log(line)
    if lost:
        raise SchedulerLost(
            f"lost the connection to the Dask scheduler {scheduler}: {len(scores)} submission(s) "
            f"were graded and stored, {len(lost)} were not. Start the scheduler and its workers "
            "again and re-run autograde: it grades only those.")
    if not_graded:
        raise NotAllGraded(f"{len(not_graded)} submission(s) got no grade because their kernel "
                           "could not start; run autograde again to grade them:\n  "
                           + "\n  ".join(not_graded))
    return scores


def _connect(scheduler: str | None, workers: int | None):
    """A client of the scheduler at `scheduler`, or of a new LocalCluster (then also returned)."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler, timeout=30), None
    cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                           processes=True, dashboard_address=None)
    return Client(cluster), cluster


def _advance(bar: tqdm, summary: Summary) -> None:
    bar.set_postfix(failed=len(summary.failed), refresh=False)
    bar.update()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", default=".", help="course folder (default: here)")
    parser.add_argument("--db-url", default=os.environ.get("DB_URL", ""),
                        help="gradebook URL (default: sqlite COURSE/gradebook.db)")
    parser.add_argument("--scheduler", default=os.environ.get("SCHEDULER") or None,
                        help="Dask scheduler address (default: a LocalCluster here)")
    parser.add_argument("--workers", type=int, default=None,
                        help="LocalCluster workers (default: cores)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per cell")
    parser.add_argument("--force", action="store_true", help="regrade everything")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run student code unsandboxed (UNSAFE: only for trusted notebooks)")
    args = parser.parse_args(argv)
    # nbgrader's own gradebook code triggers these SQLAlchemy warnings; they are harmless.
    warnings.filterwarnings("ignore", message="Object of type <Submitted")
    sandboxed = not args.no_sandbox
    if sandboxed:
        ok, why = sandbox_available()
        if not ok:
            sys.exit(f"cannot sandbox student code: {why}. "
                     "Use --no-sandbox only for trusted notebooks.")
    course = Course(Path(args.course).resolve(), args.db_url)
    try:
        run(course, args.scheduler, args.workers, args.timeout, sandboxed, args.force,
            progress=True)
    except (SetupError, NotAllGraded, SchedulerLost) as error:
        sys.exit(f"autograde: {error}")


if __name__ == "__main__":
    main()
