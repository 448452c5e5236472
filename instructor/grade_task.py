"""One grading task: one submission, graded in its own sandbox; no gradebook access.

The task gets everything it needs in its arguments (the submitted bytes and the chapter's
templates) and returns the graded notebook, so it runs the same on a Dask worker of this machine
or of another one. Only the client writes the gradebook.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbgrader.preprocessors import LimitOutput

from instructor.executor import SandboxedExecute
from instructor.sandbox import Sandbox, SandboxPolicy
from instructor.submission import nbgrader_meta, rebuild


@dataclass
class Job:
    """What a worker needs to grade one submission."""

    student: str
    chapter: str
    submission: bytes
    template: str  # grading template, notebook JSON (hidden tests included)
    release: str  # student notebook as released, notebook JSON
    timeout: int = 120
    sandboxed: bool = True
    policy: SandboxPolicy = field(default_factory=SandboxPolicy)


@dataclass
class Result:
    """A graded submission: the executed notebook and the grader's messages for the student."""

    student: str
    chapter: str
    notebook: str  # executed notebook JSON
    messages: list[str]
    seconds: float
    restarts: int = 0
    sandbox_uid: int = 0  # the uid its kernel ran as (0: no kernel ran)

    def as_dict(self) -> dict:
        return asdict(self)


def grade(job: Job) -> Result:
    """Grade one submission in a fresh sandbox and return the graded notebook."""
    start = time.perf_counter()
    template = nbformat.reads(job.template, as_version=4)
    release = nbformat.reads(job.release, as_version=4)
    rebuilt = rebuild(job.submission, template, release)
    messages = list(rebuilt.messages)
    restarts = uid = 0
    if rebuilt.notebook is None or rebuilt.answers_found == 0:
        notebook = template
        reason = messages[0] if messages else "Not graded."
        fail_tests(notebook, reason)
    else:
        notebook = rebuilt.notebook
        work = Path(tempfile.mkdtemp(prefix="grade-", dir="/tmp"))
        sandbox = Sandbox(home=work / "home", run_dir=work / "run", policy=job.policy,
                          enabled=job.sandboxed)
        try:
            sandbox.prepare()
            (sandbox.home / f"{job.chapter}.ipynb").write_bytes(job.submission)
            sandbox.hand_over(sandbox.home / f"{job.chapter}.ipynb")
            executor = SandboxedExecute(timeout=job.timeout, sandbox=sandbox, chapter=job.chapter)
            notebook, _ = executor.preprocess(notebook, {"metadata": {"path": str(sandbox.home)}})
            messages += [f"Cell '{e.grade_id}': {e.message}" if e.grade_id else
                         f"Cell {e.cell_index}: {e.message}" for e in executor.log_book.events]
            restarts, uid = executor.log_book.restarts, sandbox.uid
        finally:
            sandbox.kill_all()
            shutil.rmtree(work, ignore_errors=True)
        notebook, _ = LimitOutput().preprocess(notebook, {})
        errors_decide(notebook)
    return Result(job.student, job.chapter, nbformat.writes(notebook), messages,
                  time.perf_counter() - start, restarts, uid)


def fail_tests(notebook: NotebookNode, reason: str) -> None:
    """Give every test cell an error output, so that it scores 0, saying why."""
    for cell in notebook.cells:
        if nbgrader_meta(cell).get("grade") and cell.cell_type == "code":
            cell.outputs = [NotebookNode(output_type="error", ename="NotGraded", evalue=reason,
                                         traceback=[f"NotGraded: {reason}"])]


def errors_decide(notebook: NotebookNode) -> None:
    """In test cells, put errors first and turn results nbgrader cannot score into errors.

    nbgrader scores a test cell by its first error or numeric result; student code can put a
    fake result before its test fails, so errors must come first; a numeric result outside
    [0, points] would make nbgrader raise, so it scores 0 instead.
    """
    for cell in notebook.cells:
        if not (nbgrader_meta(cell).get("grade") and cell.cell_type == "code"):
            continue
        points = float(nbgrader_meta(cell).get("points", 0))
        outputs = [_checked_result(o, points) for o in cell.outputs
                   if o.output_type != "execute_result" or o.get("data", {}).get("text/plain")]
        errors = [o for o in outputs if o.output_type == "error"]
        if errors:
            rest = [o for o in outputs if o.output_type not in ("error", "execute_result")]
            outputs = errors + rest
        cell.outputs = outputs


def _checked_result(output: NotebookNode, points: float) -> NotebookNode:
    if output.output_type != "execute_result":
        return output
    text = output["data"]["text/plain"]
    try:
        value = float("".join(text) if isinstance(text, list) else text)
    except ValueError:
        return output
    if 0 <= value <= points:
        return output
    reason = f"the test cell's result {value:g} is not a score between 0 and {points:g}"
    return NotebookNode(output_type="error", ename="InvalidScore", evalue=reason,
                        traceback=[f"InvalidScore: {reason}"])
