"""`make feedback` (instructor/feedback.py) on graded notebooks fabricated here: no kernel runs.

The module registers chapter 1 in a course once (nbgrader generate_assignment); each test works
on a copy of that course, stores graded notebooks made from the grading template with outputs
written here (autograde.store, exactly as make autograde stores a result) and reads the pages.
The tracebacks imitate IPython's (colour codes included): the executing cell's frame first,
`Cell In[N], line L`, L counted from the top of the template cell.
"""

from __future__ import annotations

import ast
import base64
import copy
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode

from adversarial.support import ROOT, SMALLEST, make_course, require_chapter, submit
from instructor import autograde, feedback
from instructor.course import Course, chapter_templates
from instructor.grade_task import Result
from instructor.leak_scan import _distinctive as distinctive

TEST = "test_broadcast_add"  # a test cell with public checks and a hidden region
ANSWER = "broadcast_add"
SECRET = "random x of shape (4, 4): got 1.5, expected 2.25"  # what a hidden test's message says
PAYLOAD = "window.__pwned = 1; document.title = 'PWNED'; alert('PWNED')"


# -- a course with graded notebooks ----------------------------------------------------------
@pytest.fixture(scope="module")
def registered(tmp_path_factory) -> tuple[Path, NotebookNode]:
    """A course with chapter 1 registered in its gradebook, and the chapter's grading template
    with execution counts as a run gives them (code cell k ran as In[k])."""
    require_chapter(SMALLEST)
    root = make_course(tmp_path_factory.mktemp("feedback") / "course", [SMALLEST])
    template = nbformat.reads(chapter_templates(Course(root), SMALLEST).grading, as_version=4)
    code = [cell for cell in template.cells if cell.cell_type == "code"]
    for count, cell in enumerate(code, 1):
        cell.execution_count = count
        cell.outputs = []
    return root, template


@pytest.fixture
def course(registered, tmp_path) -> Course:
    shutil.copytree(registered[0], tmp_path / "course")
    return Course(tmp_path / "course")


@pytest.fixture
def template(registered) -> NotebookNode:
    return copy.deepcopy(registered[1])


def cell_of(notebook: NotebookNode, grade_id: str) -> NotebookNode:
    return next(c for c in notebook.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def line_of(cell: NotebookNode, text: str) -> int:
    """The 1-based number of the first line of `cell` containing `text`."""
    return next(n for n, line in enumerate(cell.source.split("\n"), 1) if text in line)


def hidden_line(cell: NotebookNode) -> int:
    """The hidden check of test_broadcast_add: `grading.assert_close(broadcast_add(x, ...`."""
    return line_of(cell, "grading.assert_close(broadcast_add(x")


def frame(count: int, line: int, function: str = "") -> str:
    """One frame of an IPython traceback, coloured as IPython 9 colours it."""
    where = f", in \x1b[36m{function}\x1b[39m\x1b[34m()\x1b[39m" if function else ""
    return (f"\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[{count}]\x1b[39m\x1b[32m, line "
            f"{line}\x1b[39m{where}\n\x1b[32m----> \x1b[39m\x1b[32m{line}\x1b[39m something(x)")


def error(ename: str, evalue: str, *frames: str) -> NotebookNode:
    """An error output as IPython writes it: header, frames, then `ename: evalue`."""
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[
        "\x1b[31m" + "-" * 75 + "\x1b[39m",
        f"\x1b[31m{ename}\x1b[39m                    Traceback (most recent call last)",
        *frames, f"\x1b[31m{ename}\x1b[39m: {evalue}"])


def stream(text: str, name: str = "stdout") -> NotebookNode:
    return NotebookNode(output_type="stream", name=name, text=text)


def display(data: dict, metadata: dict | None = None) -> NotebookNode:
    return NotebookNode(output_type="display_data", data=data, metadata=metadata or {})


def grade(course: Course, student: str, notebook: NotebookNode,
          messages: tuple[str, ...] = ()) -> None:
    """Collect and store a graded notebook for `student`, as make collect and make autograde do."""
    submit(course.root, student, SMALLEST, b"{}")
    result = Result(student, SMALLEST, nbformat.writes(notebook), list(messages), 0.0)
    autograde.store(course, result, digest="fabricated")


def page_of(course: Course, student: str) -> str:
    return course.feedback(student, SMALLEST).read_text()


def feedback_of(course: Course, notebook: NotebookNode, messages: tuple[str, ...] = ()) -> str:
    """The page of a single student `alice` whose graded notebook is `notebook`."""
    grade(course, "alice", notebook, messages)
    assert feedback.run(course, log=lambda line: None) == [course.feedback("alice", SMALLEST)]
    return page_of(course, "alice")


def shown(html: str) -> str:
    """The page's text with the usual entities decoded."""
    return (html.replace("&#39;", "'").replace("&quot;", '"').replace("&lt;", "<")
            .replace("&gt;", ">").replace("&amp;", "&"))


# -- rule 1: hidden tests stay hidden ----------------------------------------------------------
def test_a_hidden_test_failure_shows_only_its_cell_and_a_generic_reason(course, template):
    test = cell_of(template, TEST)
    test.outputs = [error("AssertionError", f"broadcast_add ({SECRET})",
                          frame(test.execution_count, hidden_line(test)))]
    text = shown(feedback_of(course, template))
    assert ("AssertionError: a hidden test in 'test_broadcast_add' failed (wrong values or shape; "
            "details not shown)") in text
    assert SECRET not in text and "random x of shape" not in text and "2.25" not in text


def test_another_error_of_a_hidden_test_is_named_without_its_message(course, template):
    test = cell_of(template, TEST)
    test.outputs = [error("ValueError", f"operands could not be broadcast ({SECRET})",
                          frame(test.execution_count, hidden_line(test)),
                          frame(cell_of(template, ANSWER).execution_count, 3, ANSWER))]
    text = shown(feedback_of(course, template))
    assert ("ValueError: a hidden test in 'test_broadcast_add' raised ValueError "
            "(details not shown)") in text
    assert SECRET not in text and "could not be broadcast" not in text


def test_a_public_test_failure_keeps_its_message(course, template):
    test = cell_of(template, TEST)
    message = "broadcast_add (zeros (2, 3)): values differ at [0, 0]: got 0, expected 11"
    test.outputs = [error("AssertionError", message,
                          frame(test.execution_count, line_of(test, "grading.assert_close(out")))]
    text = shown(feedback_of(course, template))
    assert f"AssertionError: {message}" in text
    assert "a hidden test" not in text


@pytest.mark.parametrize("traceback", [
    pytest.param([], id="no-traceback"),
    pytest.param(["ERROR: An error occurred while showtraceback was disabled"], id="no-frame"),
    pytest.param("another-cell-first", id="another-cell-first"),
])
def test_an_error_without_a_known_line_in_a_cell_with_hidden_tests_is_hidden(course, template,
                                                                             traceback):
    test = cell_of(template, TEST)
    output = error("AssertionError", SECRET)
    if traceback == "another-cell-first":  # the executing cell's own frame is missing
        output.traceback = [frame(cell_of(template, ANSWER).execution_count, 2, ANSWER)]
    else:
        output.traceback = traceback
    test.outputs = [output]
    text = shown(feedback_of(course, template))
    assert "a hidden test in 'test_broadcast_add' failed" in text and SECRET not in text


def test_an_error_through_a_frame_of_hidden_test_code_is_hidden(course, template):
    """A public line calls a helper that the hidden region defines: the helper's frame is on a
    hidden line, so its message is the hidden test's."""
    test = cell_of(template, TEST)
    test.outputs = [error("AssertionError", SECRET,
                          frame(test.execution_count, line_of(test, "grading.assert_close(out")),
                          frame(test.execution_count, hidden_line(test), "helper"))]
    text = shown(feedback_of(course, template))
    assert "a hidden test in 'test_broadcast_add' failed" in text and SECRET not in text


def test_an_unterminated_hidden_region_is_hidden_to_the_end_of_the_cell():
    source = "check(1)\n### BEGIN HIDDEN TESTS\nsecret_check(2)\n\nsecret_check(3)"
    assert feedback.hidden_spans(source) == [range(2, 6)]
    assert feedback.public_source(source) == f"check(1)\n{feedback.HIDDEN_NOTE}"


@pytest.mark.parametrize("ename", sorted(feedback.GRADER_ERRORS))
def test_grader_errors_keep_their_text(course, template, ename):
    reason = f"the grader says why ({ename})"
    cell_of(template, TEST).outputs = [NotebookNode(output_type="error", ename=ename, evalue=reason,
                                                    traceback=[f"{ename}: {reason}"])]
    text = shown(feedback_of(course, template))
    assert f"{ename}: {reason}" in text and "a hidden test" not in text


def error_names_written_by_the_grader() -> set[str]:
    """The enames the grader's own code gives the errors it writes: `_fail(index, cell, NAME, ...)`
    and `NotebookNode(..., ename=NAME, ...)` in instructor/executor.py and grade_task.py."""
    names = set()
    for name in ("executor.py", "grade_task.py"):
        for node in ast.walk(ast.parse((ROOT / "instructor" / name).read_text())):
            if not isinstance(node, ast.Call):
                continue
            function = getattr(node.func, "attr", getattr(node.func, "id", ""))
            name_argument = node.args[2] if function == "_fail" and len(node.args) >= 3 else None
            if isinstance(name_argument, ast.Constant):
                names.add(name_argument.value)
            names.update(k.value.value for k in node.keywords
                         if k.arg == "ename" and isinstance(k.value, ast.Constant))
    return names


def test_every_error_the_grader_writes_is_known_as_the_graders():
    names = error_names_written_by_the_grader()
    assert {"KernelDied", "NotGraded"} <= names, "the grader's error names were not found"
    assert names <= feedback.GRADER_ERRORS, (
        f"add {sorted(names - feedback.GRADER_ERRORS)} to feedback.GRADER_ERRORS, or the page "
        "hides their text as a hidden test's")


def test_what_a_test_cell_with_hidden_tests_printed_is_not_shown(course, template):
    """Student code called by a hidden test can print its inputs: such a cell's streams and
    displays are replaced by a note; an answer cell's output is shown."""
    cell_of(template, TEST).outputs = [stream(f"inputs: {SECRET}\n"), stream("warn\n", "stderr"),
                                       display({"text/plain": f"shown {SECRET}"})]
    cell_of(template, ANSWER).outputs = [stream("my own debugging output\n")]
    text = shown(feedback_of(course, template))
    assert SECRET not in text
    assert feedback.HIDDEN_OUTPUT_NOTE.strip() in text
    assert "my own debugging output" in text


# -- rule 2: no live student HTML or JavaScript --------------------------------------------------
def png() -> str:
    """A 2x2 red PNG, base64 encoded, as matplotlib's inline backend would send a plot."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + checksum
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    image = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
             + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return base64.b64encode(image).decode()


HOSTILE_HTML = (f"<script>{PAYLOAD}</script><img src=x onerror=\"{PAYLOAD}\">"
                f"<a href=\"javascript:{PAYLOAD}\">click</a>"
                f"<iframe srcdoc=\"<script>parent.{PAYLOAD}</script>\"></iframe>"
                f"<svg onload=\"{PAYLOAD}\"></svg><details open ontoggle=\"{PAYLOAD}\">x</details>")
HOSTILE_SVG = (f"<svg xmlns='http://www.w3.org/2000/svg' onload=\"{PAYLOAD}\">"
               f"<script>{PAYLOAD}</script><rect width='5' height='5'/></svg>")


def hostile(template: NotebookNode) -> NotebookNode:
    """The template with student markup everywhere a notebook can carry it, and a plot."""
    table = "| a | b |\n|---|---|\n| 1 | 2 |"
    markdown = nbformat.v4.new_markdown_cell(
        f"My answer: {HOSTILE_HTML}\n\n[a link](javascript:alert(1))\n\n{table}")
    template.cells.insert(template.cells.index(cell_of(template, ANSWER)) + 1, markdown)
    cell_of(template, ANSWER).outputs = [
        display({"text/html": HOSTILE_HTML, "text/plain": "html"}),
        display({"text/html": HOSTILE_HTML}, {"text/html": {"isolated": True}}),
        display({"text/markdown": f"**bold** {HOSTILE_HTML}"}),
        display({"application/javascript": PAYLOAD}),
        display({"image/svg+xml": HOSTILE_SVG}),
        display({"application/vnd.jupyter.widget-view+json": {
            "model_id": "0", "version_major": 2, "version_minor": 0}, "text/plain": "widget"}),
        display({"image/png": png(), "text/plain": "<Figure size 2x2>"}),
    ]
    template.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {}, "version_major": 2, "version_minor": 0}}
    return template


class Markup(HTMLParser):
    """The tags and attributes of a page, and the text inside its scripts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def test_student_markup_is_inert_and_plots_are_kept(course, template):
    html = feedback_of(course, hostile(template))
    markup = Markup(html)
    assert not [s for s in markup.scripts if "__pwned" in s], "a student script is on the page"
    assert not [(t, a) for t, a in markup.tags for name in a if name.startswith("on")]
    assert not [t for t, _ in markup.tags if t in ("iframe", "svg", "embed", "object")]
    assert not [a for _, a in markup.tags
                if any(v.strip().lower().startswith("javascript:") for v in a.values())]
    images = [a.get("src", "") for t, a in markup.tags if t == "img"]
    assert [src for src in images if src.startswith("data:image/png;base64,")], "the plot is lost"
    assert "<th>a</th>" in html and "<td>1</td>" in html  # markdown tables still render
    assert "&lt;script&gt;" in html  # the student's markup is shown as text


def chromium() -> str:
    """The system Chromium; skip without it, except under CI, where it must be installed."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    message = "the browser check needs the system Chromium (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + ": CI must install it")
    pytest.skip(message)


# Run in a process of its own: Playwright's sync API refuses to start in a process where another
# test (the browser tests) already runs an asyncio loop.
BROWSER_PROBE = r"""
import json, os, sys
from playwright.sync_api import sync_playwright
url, executable = sys.argv[1], sys.argv[2]
dialogs = []
with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=executable,
                                         args=["--no-sandbox"] if os.geteuid() == 0 else [])
    try:
        page = browser.new_page()
        page.route("**/*", lambda route: route.continue_()
                   if route.request.url.startswith("file:") else route.abort())
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(url, wait_until="load")
        page.wait_for_timeout(1000)  # time for onerror, onload and iframes to fire
        found = {"pwned": page.evaluate("window.__pwned"), "title": page.title(),
                 "dialogs": dialogs,
                 "plot_width": page.evaluate(
                     "Math.max(0, ...[...document.querySelectorAll('img[src^=\"data:image/png\"]')]"
                     ".map(img => img.naturalWidth))"),
                 "handlers": page.evaluate(
                     "[...document.querySelectorAll('*')].flatMap(e => [...e.attributes])"
                     ".filter(a => a.name.startsWith('on') || /^\\s*javascript:/i.test(a.value))"
                     ".length")}
    finally:
        browser.close()
print(json.dumps(found))
"""


def test_no_student_script_runs_in_a_browser(course, template):
    executable = chromium()
    feedback_of(course, hostile(template))
    result = subprocess.run([sys.executable, "-c", BROWSER_PROBE,
                             course.feedback("alice", SMALLEST).as_uri(), executable],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["pwned"] is None and found["title"] != "PWNED" and found["dialogs"] == [], (
        "a student script ran")
    assert found["handlers"] == 0
    assert found["plot_width"] == 2, "the plot does not show"


# -- rule 3: one bad page does not stop the class ------------------------------------------------
def a_hidden_line(template: NotebookNode) -> str:
    return sorted(feedback.hidden_lines(template))[0]


def test_a_page_showing_a_hidden_line_is_withheld_and_the_others_are_written(course, template):
    leaking = copy.deepcopy(template)
    cell_of(leaking, ANSWER).outputs = [stream(a_hidden_line(template) + "\n")]
    grade(course, "bob", leaking)
    grade(course, "alice", template)
    old = course.feedback("bob", SMALLEST)
    old.parent.mkdir(parents=True)
    old.write_text("an old page")
    logged: list[str] = []
    with pytest.raises(feedback.PagesWithheld) as withheld:
        feedback.run(course, log=logged.append)
    assert withheld.value.written == [course.feedback("alice", SMALLEST)]
    assert course.feedback("alice", SMALLEST).exists() and not old.exists()
    message = next(line for line in logged if "bob" in line)
    assert message.startswith(f"{SMALLEST} bob: feedback withheld")
    assert "hidden-test line" in message and "output of 'broadcast_add'" in message
    assert [line.split(":")[0] for line in withheld.value.withheld] == [f"{SMALLEST} bob"]


def test_a_hidden_line_the_student_typed_withholds_the_page(course, template):
    """The page shows student code: a distinctive hidden line in it is not shown either, and the
    instructor learns that the student has it."""
    line = a_hidden_line(template)
    assert distinctive(line)
    cell_of(template, ANSWER).source += f"\n{line}\n"
    grade(course, "alice", template)
    logged: list[str] = []
    with pytest.raises(feedback.PagesWithheld):
        feedback.run(course, log=logged.append)
    assert not course.feedback("alice", SMALLEST).exists()
    assert any("the student's own code of 'broadcast_add'" in line for line in logged)


def test_a_generic_hidden_line_in_the_students_own_code_does_not_withhold_it(course, template):
    """`for k in ks:` in a hidden region is no secret a student could not write themselves."""
    test = cell_of(template, TEST)
    test.source = test.source.replace("### END HIDDEN TESTS",
                                      "for k in ks:\n    pass\n### END HIDDEN TESTS")
    assert "for k in ks:" in feedback.hidden_lines(template) and not distinctive("for k in ks:")
    cell_of(template, ANSWER).source += "\nks = [1, 3]\nfor k in ks:\n    pass\n"
    assert "for k in ks:" in shown(re.sub(r"<[^>]*>", "", feedback_of(course, template)))


def test_a_page_that_cannot_be_made_is_withheld_and_the_others_are_written(course, template):
    grade(course, "alice", template)
    grade(course, "bob", template)
    course.autograded("bob", SMALLEST).write_text("not a notebook")
    logged: list[str] = []
    with pytest.raises(feedback.PagesWithheld) as withheld:
        feedback.run(course, log=logged.append)
    assert withheld.value.written == [course.feedback("alice", SMALLEST)]
    assert [line for line in logged if line.startswith(f"{SMALLEST} bob: feedback withheld")]


def run_command(course: Course) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [sys.executable, "-m", "instructor.feedback", "--course", str(course.root)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_the_command_exits_1_only_when_pages_are_withheld(course, template):
    grade(course, "alice", template)
    done = run_command(course)
    assert done.returncode == 0, done.stderr
    leaking = copy.deepcopy(template)
    cell_of(leaking, ANSWER).outputs = [stream(a_hidden_line(template) + "\n")]
    grade(course, "bob", leaking)
    done = run_command(course)
    assert done.returncode == 1
    assert f"{SMALLEST} bob:" in done.stderr and "withheld" in done.stderr
    assert "wrote 1 feedback page(s)" in done.stdout
    assert course.feedback("alice", SMALLEST).exists()


# -- rule 4: what the page keeps -----------------------------------------------------------------
def test_the_page_keeps_scores_and_messages_without_secrets(course, template):
    test = cell_of(template, TEST)
    test.outputs = [error("AssertionError", SECRET, frame(test.execution_count, hidden_line(test)))]
    warning = f"{sys.prefix}/lib/python3.11/site-packages/numpy/x.py:3: UserWarning: careful\n"
    cell_of(template, ANSWER).outputs = [stream(warning, "stderr")]
    html = feedback_of(course, template, ("Cell 'test_one_hot': the kernel died while running it",))
    text = shown(html)
    assert "Feedback: ch01_introduction, alice" in text
    assert "<td><code>test_broadcast_add</code></td>\n<td>0 / 1</td>" in html
    assert "<td><code>test_one_hot</code></td>\n<td>2 / 2</td>" in html
    assert "the kernel died while running it" in text
    assert "numpy/x.py:3: UserWarning: careful" in text and sys.prefix not in text
    assert str(ROOT) not in text
    assert "hidden tests: not shown" in text
    assert "BEGIN HIDDEN TESTS" not in text and "most recent call last" not in text
    assert not [line for line in feedback.hidden_lines(template) if line in text]
