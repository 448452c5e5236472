"""Feedback for students: one HTML page per graded submission, with nothing secret in it.

    python -m instructor.feedback [--course DIR] [--db-url URL]

Writes COURSE/feedback/STUDENT/CHAPTER/CHAPTER.html: the score of each test, what the grader had
to tell the student (crashes, timeouts, edited cells, patched checks), then the graded notebook:
- Hidden tests stay hidden. Each hidden-test region's source becomes a one-line note. No
  traceback is shown (tracebacks show grader internals and hidden-test lines): an error is
  `ename: evalue`, except an error raised from hidden-test code, which says only which cell
  failed and the kind of error, never the test's message, inputs, expected values or case
  names. Where the error was raised is read from the traceback (`Cell In[N], line L`: line L of
  the template cell that ran as In[N]); if it cannot be determined in a cell with hidden tests,
  the error counts as hidden. Errors the grader writes itself (GRADER_ERRORS, such as
  KernelDied or CellTimeoutError, with a one-line traceback) keep their text. What a cell with
  hidden tests printed or displayed is not shown either (student code called by a hidden test
  can print its inputs), only a note saying so.
- Student HTML is inert. Outputs keep text, PNG/JPEG images, SVG as an <img> (where scripts do
  not run), and HTML and markdown through clean_html, as markdown cells are (bleach, with an
  allowlist: no scripts, event handlers, iframes, styles or javascript: links; the rest is
  shown as text). JavaScript, widget views and other mimetypes are dropped.
- One bad page does not stop the class. A page that would still show a hidden-test line (see
  leaked_lines) or marker, or that cannot be made at all, is withheld: not written, an older page
  of that student and chapter removed, the reason logged for the instructor. A distinctive
  hidden-test line in the student's own answer code withholds the page too: the page would show
  it, and the instructor should find out where the student got it.

Exit status: 0 when every graded submission got its page, 1 when pages were withheld (listed on
stderr; all other pages are written), 2 for wrong command-line arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from html import unescape
from pathlib import Path

import bleach
import nbformat
from nbconvert import HTMLExporter
from nbformat import NotebookNode
from nbgrader.api import Gradebook, MissingEntry

from instructor.autograde import MARKER
from instructor.course import ROOT, Course
from instructor.leak_scan import _distinctive as distinctive
from instructor.submission import nbgrader_meta

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SITE_PACKAGES = re.compile(r"/\S*/site-packages/")
FRAME = re.compile(r"\s*Cell In\[(\d+)\], line (\d+)")  # an IPython traceback entry of a cell
TAG = re.compile(r"<[^>]*>")
IDENTIFIER = re.compile(r"[A-Za-z_][\w.]{0,79}")
BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
HIDDEN_NOTE = "# (hidden tests: not shown)"
HIDDEN_OUTPUT_NOTE = "(output of hidden tests not shown)\n"
# Errors the grader itself writes (one traceback line, no frame): their text is the grader's.
# instructor/executor.py and grade_task.py write them; a test checks that none is missing here.
GRADER_ERRORS = {"KernelDied", "CellTimeoutError", "NotGraded", "InvalidScore", "GraderError",
                 "ChangedDuringTest"}
SHOWN_MIMETYPES = ("text/plain", "text/html", "text/markdown", "text/latex", "image/png",
                   "image/jpeg", "image/svg+xml")
SAFE_TAGS = frozenset(bleach.ALLOWED_TAGS) | {
    "p", "div", "span", "pre", "code", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "table",
    "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "img", "sub", "sup", "del", "s",
    "dl", "dt", "dd", "kbd", "samp", "var", "small", "mark"}
SAFE_ATTRIBUTES = {"*": ["class", "title"], "a": ["href", "title"],
                   "img": ["src", "alt", "width", "height"],
                   "th": ["colspan", "rowspan"], "td": ["colspan", "rowspan"]}
SAFE_PROTOCOLS = ["http", "https", "mailto"]

Spans = list[range]  # the 1-based line numbers of a cell's hidden-test regions, markers included


class Withheld(Exception):
    """A feedback page that must not be shown; the message says why, for the instructor."""


class PagesWithheld(RuntimeError):
    """Some pages were withheld; all the others were written."""

    def __init__(self, written: list[Path], withheld: list[str]) -> None:
        super().__init__(f"{len(withheld)} feedback page(s) withheld:\n  " + "\n  ".join(withheld))
        self.written = written
        self.withheld = withheld


# -- hidden-test regions -----------------------------------------------------------------------
def hidden_spans(source: str) -> Spans:
    """Line ranges from each BEGIN HIDDEN TESTS line to its END line (or the end of the cell:
    an unterminated region is hidden to the end). Lines are counted as Python counts them."""
    lines = source.split("\n")
    spans, start = [], None
    for number, line in enumerate(lines, 1):
        if start is None and BEGIN in line:
            start = number
        elif start is not None and END in line:
            spans.append(range(start, number + 1))
            start = None
    if start is not None:
        spans.append(range(start, len(lines) + 1))
    return spans


def _in_spans(number: int, spans: Spans) -> bool:
    return any(number in span for span in spans)


def public_source(source: str) -> str:
    """`source` with each hidden region replaced by HIDDEN_NOTE and stray markers dropped."""
    spans = hidden_spans(source)
    kept = []
    for number, line in enumerate(source.split("\n"), 1):
        if any(number == span.start for span in spans):
            kept.append(line[:len(line) - len(line.lstrip())] + HIDDEN_NOTE)
        elif not _in_spans(number, spans) and BEGIN not in line and END not in line:
            kept.append(line)
    return "\n".join(kept)


def _is_answer(cell: NotebookNode) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def hidden_lines(notebook: NotebookNode) -> set[str]:
    """Lines of the hidden-test regions (at least 8 characters, not comments) that no public
    line of the course shows. Answer cells do not count as public: they hold student code."""
    secret, public = set(), set()
    for cell in notebook.cells:
        spans = hidden_spans(cell.source)
        for number, line in enumerate(cell.source.split("\n"), 1):
            if _in_spans(number, spans):
                secret.add(line.strip())
            elif not _is_answer(cell):
                public.add(line.strip())
    return {line for line in secret - public if len(line) >= 8 and not line.startswith("#")}


# -- errors ------------------------------------------------------------------------------------
def frames(traceback: list[str]) -> list[tuple[int, int]]:
    """(execution count, line) of each notebook-cell frame of an IPython traceback, outermost
    first: IPython names the executing cell's frame first, e.g. `Cell In[12], line 14`."""
    found = []
    for entry in traceback:
        match = FRAME.match(ANSI.sub("", str(entry)))
        if match:
            found.append((int(match[1]), int(match[2])))
    return found


HiddenAt = Callable[[int, int], bool]


def hidden_locator(notebook: NotebookNode) -> HiddenAt:
    """A function telling whether line L of the cell run as In[N] is a hidden-test line. After a
    kernel restart two cells may share N: the line is hidden if it is in either."""
    spans_of: dict[int, Spans] = {}
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.get("execution_count") is not None:
            spans_of.setdefault(cell.execution_count, []).extend(hidden_spans(cell.source))
    return lambda count, line: _in_spans(line, spans_of.get(count, []))


def is_grader_error(output: NotebookNode) -> bool:
    """An error the grader wrote itself: a known name and a one-line traceback without frames."""
    return (output.ename in GRADER_ERRORS and len(output.get("traceback", [])) <= 1
            and not frames(output.get("traceback", [])))


def raised_by_hidden_test(output: NotebookNode, cell: NotebookNode, hidden_at: HiddenAt) -> bool:
    """Whether an error comes from hidden-test code, conservatively.

    Hidden when any frame of the traceback is on a hidden-test line (of this cell, or a helper
    defined in another cell's hidden tests); and, in a cell with hidden tests, also when the
    traceback does not start with this cell's own frame (the line cannot be determined).
    """
    cell_frames = frames(output.get("traceback", []))
    if any(hidden_at(count, line) for count, line in cell_frames):
        return True
    if not hidden_spans(cell.source):
        return False
    return not cell_frames or cell_frames[0][0] != cell.get("execution_count")


def generic_reason(ename: str, test: str) -> str:
    """What a student learns of a hidden test's failure: which cell, and the kind of error."""
    if ename == "AssertionError":
        return f"a hidden test in {test} failed (wrong values or shape; details not shown)"
    return f"a hidden test in {test} raised {ename} (details not shown)"


def _cell_name(cell: NotebookNode, index: int) -> str:
    grade_id = nbgrader_meta(cell).get("grade_id")
    return f"'{grade_id}'" if grade_id else f"cell {index}"


def shown_error(output: NotebookNode, cell: NotebookNode, index: int,
                hidden_at: HiddenAt) -> NotebookNode:
    """The error as the page shows it: one line `ename: evalue`, generic if a hidden test's."""
    ename = ANSI.sub("", str(output.get("ename", "")))
    evalue = _hide_paths(ANSI.sub("", str(output.get("evalue", ""))))
    if not is_grader_error(output) and raised_by_hidden_test(output, cell, hidden_at):
        ename = ename if IDENTIFIER.fullmatch(ename) else "Error"  # the student may name it
        evalue = generic_reason(ename, _cell_name(cell, index))
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


# -- other outputs -----------------------------------------------------------------------------
def shown_data(output: NotebookNode) -> NotebookNode | None:
    """A display or result with only the mimetypes the page renders safely (text, images, HTML
    and markdown, which the exporter sanitises), without metadata (it can make nbconvert
    embed an iframe or point an image elsewhere); None when nothing is left."""
    data = {kind: value for kind, value in output.get("data", {}).items()
            if kind in SHOWN_MIMETYPES and isinstance(value, str)}
    if "text/plain" in data:
        data["text/plain"] = _hide_paths(data["text/plain"])
    if not data:
        return None
    shown = NotebookNode(output_type=output.output_type, data=data, metadata={})
    if output.output_type == "execute_result":
        shown.execution_count = output.get("execution_count")
    return shown


def shown_outputs(cell: NotebookNode, index: int, hidden_at: HiddenAt) -> list[NotebookNode]:
    """The outputs of a code cell as the page shows them.

    Errors always (reduced, see shown_error). In a cell with hidden tests nothing else: what it
    printed or displayed may come from hidden tests (or from student code they call), so a note
    replaces it.
    """
    hidden = bool(hidden_spans(cell.source))
    shown, dropped = [], False
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            shown.append(shown_error(output, cell, index, hidden_at))
        elif hidden:
            dropped = True
        elif output.output_type == "stream":
            shown.append(NotebookNode(output_type="stream", name=output.name,
                                      text=_hide_paths(str(output.text))))
        elif output.output_type in ("display_data", "execute_result"):
            data = shown_data(output)
            if data is not None:
                shown.append(data)
    if dropped:
        shown.append(NotebookNode(output_type="stream", name="stdout", text=HIDDEN_OUTPUT_NOTE))
    return shown


def _hide_paths(text: str) -> str:
    """Warnings name files of the grading machine: keep only the part after site-packages."""
    text = SITE_PACKAGES.sub("", text)
    for prefix in sorted({str(ROOT), sys.prefix, sys.base_prefix}, key=len, reverse=True):
        text = text.replace(prefix, "...")
    return text


def scrub(notebook: NotebookNode) -> NotebookNode:
    """The graded notebook as the page shows it: no hidden-test source, no traceback, no output
    that may reveal a hidden test, no active content (see the module's docstring)."""
    hidden_at = hidden_locator(notebook)
    page = nbformat.reads(nbformat.writes(notebook), as_version=4)
    for index, cell in enumerate(page.cells):
        if cell.cell_type == "code":
            cell.outputs = shown_outputs(cell, index, hidden_at)
        cell.source = public_source(cell.source)
    page.metadata.pop("widgets", None)
    return page


# -- the page ----------------------------------------------------------------------------------
def clean_html(html: str) -> str:
    """Student HTML made inert: tags and attributes outside a small allowlist are escaped (shown
    as text), links keep only http, https and mailto. It replaces nbconvert's own `clean_html`
    filter (whose allowlist escapes tables and headings), which the exporter applies to markdown
    cells and to HTML and markdown outputs when sanitize_html is on."""
    return bleach.clean(str(html), tags=SAFE_TAGS, attributes=SAFE_ATTRIBUTES,
                        protocols=SAFE_PROTOCOLS, strip=False, strip_comments=True)


def page_exporter() -> HTMLExporter:
    """nbconvert's classic HTML page with sanitising on: no JavaScript or widget outputs, and
    markdown and HTML through clean_html."""
    return HTMLExporter(template_name="classic", sanitize_html=True,
                        filters={"clean_html": clean_html})


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
        text += ["## Notes from the grader", ""] + [f"- {_hide_paths(m)}" for m in messages]
    return nbformat.v4.new_markdown_cell("\n".join(text))


def visible_text(html: str) -> str:
    """The page's text as a reader sees it (code is split into highlighting spans), plus the
    markup itself, so a hidden line is found in either."""
    return unescape(html) + "\n" + unescape(TAG.sub("", html))


def _output_text(cell: NotebookNode) -> str:
    """All text of a cell's outputs: streams, errors and every mimetype's data."""
    parts = []
    for output in cell.get("outputs", []):
        parts += [str(output.get("text", "")), str(output.get("evalue", ""))]
        parts += [str(value) for value in output.get("data", {}).values()]
    return "\n".join(parts)


def leaked_lines(graded: NotebookNode, page: NotebookNode, html: str) -> list[str]:
    """The hidden-test lines (see hidden_lines) that the page shows.

    A line shown only as part of the student's own answer code counts when it is distinctive
    (as the release leak scan counts lines: 16+ characters with code in them): a short, generic
    line such as `for k in ks:` is something students write themselves.
    """
    text = visible_text(html)
    own = "\n".join(cell.source for cell in page.cells if _is_answer(cell))
    rest = "\n".join([_output_text(cell) for cell in page.cells]
                     + [cell.source for cell in page.cells if not _is_answer(cell)])
    return sorted(line for line in hidden_lines(graded) if line in text
                  and (distinctive(line) or line not in own or line in rest))


def where_shown(page: NotebookNode, text: str) -> str:
    """Where the page would show `text`, for the instructor."""
    for index, cell in enumerate(page.cells):
        name = _cell_name(cell, index)
        if text in _output_text(cell):
            return f"in the output of {name}"
        if text in cell.source and _is_answer(cell):
            return f"in the student's own code of {name} (find out where they got it)"
        if text in cell.source:
            return f"in the source of {name}"
    return "on the page"


def check_no_hidden_lines(graded: NotebookNode, page: NotebookNode, html: str) -> None:
    """Raise Withheld if the page shows a line of a hidden-test region or a hidden-test marker."""
    leaked = leaked_lines(graded, page, html)
    if leaked:
        raise Withheld(f"it would show {len(leaked)} hidden-test line(s), e.g. {leaked[0]!r} "
                       f"{where_shown(page, leaked[0])}")
    text = visible_text(html)
    for marker in (BEGIN, END):
        if marker in text:
            raise Withheld(f"it would show the marker {marker!r} {where_shown(page, marker)}")


def write_feedback(course: Course, student: str, chapter: str, exporter: HTMLExporter) -> Path:
    """Write the page of one graded submission; raise Withheld if it would show hidden tests."""
    graded = nbformat.read(course.autograded(student, chapter), as_version=4)
    marker_file = course.autograded(student, chapter).parent / MARKER
    messages = []
    if marker_file.exists():
        messages = json.loads(marker_file.read_text()).get("messages", [])
    page = scrub(graded)
    with Gradebook(course.gradebook_url) as gradebook:
        summary = summary_cell(student, chapter, graded, gradebook, messages)
    html, _ = exporter.from_notebook_node(
        nbformat.v4.new_notebook(cells=[summary, *page.cells], metadata=page.metadata))
    check_no_hidden_lines(graded, page, html)
    path = course.feedback(student, chapter)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(html)
    os.replace(temporary, path)
    return path


def run(course: Course, log: Callable[[str], object] = print) -> list[Path]:
    """Write the page of every graded submission; return the pages written.

    A page that is withheld (see Withheld) or cannot be made does not stop the others: its old
    page is removed and the instructor told why. Raises PagesWithheld at the end if any was.
    """
    exporter = page_exporter()
    written, withheld = [], []
    for student, chapter in course.submissions():
        if not course.autograded(student, chapter).exists():
            log(f"{chapter} {student}: not graded yet (make autograde)")
            continue
        try:
            written.append(write_feedback(course, student, chapter, exporter))
        except MissingEntry:
            log(f"{chapter} {student}: not in the gradebook (make autograde)")
        except Exception as error:  # one bad page must not stop the class
            reason = str(error) if isinstance(error, Withheld) else (
                f"the page could not be made ({type(error).__name__}: {error})")
            course.feedback(student, chapter).unlink(missing_ok=True)
            withheld.append(f"{chapter} {student}: {reason}")
            log(f"{chapter} {student}: feedback withheld (no page written, any old one removed): "
                f"{reason}")
    log(f"wrote {len(written)} feedback page(s) under {course.root / 'feedback'}"
        + (f", withheld {len(withheld)}" if withheld else ""))
    if withheld:
        raise PagesWithheld(written, withheld)
    return written


def main(argv: list[str] | None = None) -> None:
    """The command line; exits 1 when pages were withheld (see the module's docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", default=".")
    parser.add_argument("--db-url", default=os.environ.get("DB_URL", ""))
    args = parser.parse_args(argv)
    try:
        run(Course(Path(args.course).resolve(), args.db_url))
    except PagesWithheld as error:
        sys.exit(f"feedback: {error}")


if __name__ == "__main__":
    main()
