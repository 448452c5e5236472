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
import os
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from nbgrader.preprocessors import SaveAutoGrades
from nbgrader.utils import parse_utc

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


def run(course: Course, scheduler: str | None = None, workers: int | None = None,
        timeout: int = 120, sandboxed: bool = True, force: bool = False,
        log=print) -> dict[tuple[str, str], float]:
    """Grade what needs grading; return {(student, chapter): score} of this run.

    Raises SetupError, before grading anything, when a canary kernel on a grading machine cannot
    start or imports another course_utils than expected; raises NotAllGraded at the end when a
    submission's kernel could not start (it got no grade, so the next run grades it).
    """
    from dask.distributed import Client, LocalCluster, as_completed

    pending = plan(course, timeout, sandboxed, force)
    up_to_date = len(course.submissions()) - len(pending)
    log(f"{len(pending)} submission(s) to grade, {up_to_date} up to date")
    if not pending:
        return {}
    if scheduler:
        client, cluster = Client(scheduler), None
    else:
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    scores = {}
    not_graded = []
    start = time.perf_counter()
    try:
        check_workers(client, sandboxed)
        futures = {client.submit(grade, item.job, pure=False, retries=1): item for item in pending}
        for future in as_completed(futures):
            item = futures[future]
            digest: str | None = item.digest
            try:
                result = future.result()
            except KernelStartError as error:  # the grader's failure: no grade, retried next run
                not_graded.append(f"{item.job.chapter} {item.job.student}: {error}")
                log(f"{item.job.chapter} {item.job.student}: not graded, {error}")
                continue
            except Exception as error:  # the task itself failed: zero for now, retried next run
                result, digest = failed_result(item.job, error), None
            try:
                score = store(course, result, digest)
            except Exception as error:  # nbgrader refused the graded notebook: zero, retried
                score = store(course, failed_result(item.job, error), None)
            scores[(item.job.student, item.job.chapter)] = score
            note = f" ({len(result.messages)} message(s))" if result.messages else ""
            log(f"{item.job.chapter} {item.job.student}: {score:g}{note} [{result.seconds:.1f} s]")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    log(f"graded {len(scores)} in {time.perf_counter() - start:.1f} s")
    if not_graded:
        raise NotAllGraded(f"{len(not_graded)} submission(s) got no grade because their kernel "
                           "could not start; run autograde again to grade them:\n  "
                           + "\n  ".join(not_graded))
    return scores


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
        run(course, args.scheduler, args.workers, args.timeout, sandboxed, args.force)
    except (SetupError, NotAllGraded) as error:
        sys.exit(f"autograde: {error}")


if __name__ == "__main__":
    main()
