"""Feedback for students: one HTML page per graded submission, with nothing secret in it.

    python -m instructor.feedback [--course DIR] [--db-url URL]

Writes COURSE/feedback/STUDENT/CHAPTER/CHAPTER.html: the score of each test, what the grader had
to tell the student (crashes, timeouts, edited cells, patched checks), then the graded notebook
with every hidden-test region replaced by a one-line note and every error reduced to its type
and message (tracebacks show grader internals and hidden-test lines). A page that would still
contain a hidden-test line is not written: the run fails instead.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from html import unescape
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbformat import NotebookNode
from nbgrader.api import Gradebook, MissingEntry

from instructor.autograde import MARKER
from instructor.course import ROOT, Course
from instructor.leak_scan import HIDDEN_REGION
from instructor.submission import nbgrader_meta

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
SITE_PACKAGES = re.compile(r"/\S*/site-packages/")
HIDDEN_NOTE = "# (hidden tests: not shown)\n"


def scrub(notebook: NotebookNode) -> NotebookNode:
    """The graded notebook without hidden-test source and without tracebacks."""
    notebook = nbformat.reads(nbformat.writes(notebook), as_version=4)
    for cell in notebook.cells:
        cell.source = HIDDEN_REGION.sub(HIDDEN_NOTE, cell.source)
        for marker in ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"):
            cell.source = cell.source.replace(marker, "")
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            if output.output_type == "error":
                output.ename = ANSI.sub("", str(output.ename))
                output.evalue = _hide_paths(ANSI.sub("", str(output.evalue)))
                output.traceback = [f"{output.ename}: {output.evalue}"]
            elif output.output_type == "stream":
                output.text = _hide_paths(output.text)
    return notebook


def _hide_paths(text: str) -> str:
    """Warnings name files of the grading machine: keep only the part after site-packages."""
    text = SITE_PACKAGES.sub("", text)
    for prefix in sorted({str(ROOT), sys.prefix, sys.base_prefix}, key=len, reverse=True):
        text = text.replace(prefix, "...")
    return text


def summary_cell(student: str, chapter: str, notebook: NotebookNode, gradebook: Gradebook,
                 messages: list[str]) -> NotebookNode:
    """A markdown cell with the score per test and the grader's messages."""
    rows = ["| test | points |", "|---|---|"]
    total = maximum = 0.0
    for cell in notebook.cells:
        meta = nbgrader_meta(cell)
        if not meta.get("grade"):
            continue
        grade = gradebook.find_grade(meta["grade_id"], chapter, chapter, student)
        score = grade.score or 0.0
        total += score
        maximum += grade.max_score
        rows.append(f"| `{meta['grade_id']}` | {score:g} / {grade.max_score:g} |")
    rows.append(f"| **total** | **{total:g} / {maximum:g}** |")
    text = [f"# Feedback: {chapter}, {student}", "", *rows, ""]
    if messages:
        text += ["## Notes from the grader", ""] + [f"- {message}" for message in messages]
    return nbformat.v4.new_markdown_cell("\n".join(text))


def hidden_lines(notebook: NotebookNode) -> set[str]:
    """Lines of the hidden-test regions (at least 8 characters, not comments)."""
    lines = set()
    for cell in notebook.cells:
        for region in HIDDEN_REGION.findall(cell.source):
            lines.update(line.strip() for line in region.splitlines())
    public = {line.strip() for cell in notebook.cells
              for line in HIDDEN_REGION.sub("", cell.source).splitlines()}
    return {line for line in lines - public if len(line) >= 8 and not line.startswith("#")}


def write_feedback(course: Course, student: str, chapter: str, exporter: HTMLExporter) -> Path:
    graded = nbformat.read(course.autograded(student, chapter), as_version=4)
    marker_file = course.autograded(student, chapter).parent / MARKER
    messages = []
    if marker_file.exists():
        messages = json.loads(marker_file.read_text()).get("messages", [])
    page = scrub(graded)
    with Gradebook(course.gradebook_url) as gradebook:
        page.cells.insert(0, summary_cell(student, chapter, graded, gradebook, messages))
    html, _ = exporter.from_notebook_node(page)
    text = unescape(html)
    leaked = [line for line in hidden_lines(graded) if line in text]
    if leaked:
        raise RuntimeError(f"feedback for {student}/{chapter} would show hidden tests: "
                           f"{leaked[:3]}")
    path = course.feedback(student, chapter)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(html)
    os.replace(temporary, path)
    return path


def run(course: Course, log=print) -> list[Path]:
    exporter = HTMLExporter(template_name="classic")
    written = []
    for student, chapter in course.submissions():
        if not course.autograded(student, chapter).exists():
            log(f"{chapter} {student}: not graded yet (make autograde)")
            continue
        try:
            written.append(write_feedback(course, student, chapter, exporter))
        except MissingEntry:
            log(f"{chapter} {student}: not in the gradebook (make autograde)")
    log(f"wrote {len(written)} feedback page(s) under {course.root / 'feedback'}")
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", default=".")
    parser.add_argument("--db-url", default=os.environ.get("DB_URL", ""))
    args = parser.parse_args(argv)
    run(Course(Path(args.course).resolve(), args.db_url))


if __name__ == "__main__":
    main()
