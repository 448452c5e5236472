"""Hostile submissions, generated from a real chapter's student and instructor notebooks.

Each submission attacks some answers (by position: the chapter's 1st..6th answer cells) and
answers the rest correctly. `expected` gives the points every test cell must get, so a test can
check that each attack earns 0 for the part it attacks and that nothing else is disturbed.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

import nbformat
from nbformat import NotebookNode

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


@dataclass
class Submission:
    """A submitted file, the points each test cell must get, and words the report must contain."""

    name: str
    raw: bytes
    expected: dict[str, float]
    says: list[str] = field(default_factory=list)


def _meta(cell: NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


class Chapter:
    """A chapter's answers and tests, to build submissions from."""

    def __init__(self, release: NotebookNode, solution: NotebookNode) -> None:
        self.release = release
        solved = {_meta(c)["grade_id"]: c.source
                  for c in solution.cells if _meta(c).get("solution")}
        self.answers: list[str] = []
        self.test_of: dict[str, str] = {}
        self.points: dict[str, float] = {}
        self.solved: dict[str, str] = {}
        current = None
        for cell in release.cells:
            meta = _meta(cell)
            if meta.get("solution") and cell.cell_type == "code":
                current = meta["grade_id"]
                self.answers.append(current)
                self.solved[current] = "\n".join(
                    line for line in solved[current].splitlines()
                    if line.strip() not in SOLUTION_MARKERS)
            elif meta.get("grade") and cell.cell_type == "code":
                self.points[meta["grade_id"]] = float(meta["points"])
                if current is not None and current not in self.test_of:
                    self.test_of[current] = meta["grade_id"]

    def full_marks(self) -> dict[str, float]:
        return dict(self.points)

    def notebook(self, answers: dict[str, str] | None = None) -> NotebookNode:
        """The release notebook with every answer solved except those given in `answers`."""
        notebook = copy.deepcopy(self.release)
        answers = answers or {}
        for cell in notebook.cells:
            grade_id = _meta(cell).get("grade_id")
            if _meta(cell).get("solution") and cell.cell_type == "code":
                cell.source = answers.get(grade_id, self.solved[grade_id])
        return notebook

    def cell(self, notebook: NotebookNode, grade_id: str) -> NotebookNode:
        return next(c for c in notebook.cells if _meta(c).get("grade_id") == grade_id)

    def index(self, notebook: NotebookNode, grade_id: str) -> int:
        return next(i for i, c in enumerate(notebook.cells) if _meta(c).get("grade_id") == grade_id)

    # -- answers ------------------------------------------------------------------------------
    def wrong(self, answer: str, before: str = "", result: str = "None") -> str:
        """An answer that returns `result` (a wrong value), after running `before` at top level."""
        return f"{before}\ndef {answer}(*args, **kwargs):\n    return {result}\n"

    def gated(self, answer: str, attack: str) -> str:
        """The correct answer, but only returned when `attack` (statements) runs without error."""
        body = "\n".join("        " + line for line in attack.strip().splitlines())
        return (f"{self.solved[answer]}\n\n_real_{answer} = {answer}\n"
                f"def {answer}(*args, **kwargs):\n    try:\n{body}\n"
                "    except BaseException as error:\n"
                "        print('attack failed:', type(error).__name__, error)\n"
                "        return None\n"
                f"    return _real_{answer}(*args, **kwargs)\n")

    def expect(self, zero: list[str]) -> dict[str, float]:
        """Full marks except 0 for the tests of the answers in `zero`."""
        expected = self.full_marks()
        for answer in zero:
            expected[self.test_of[answer]] = 0.0
        return expected


def _raw(notebook: NotebookNode) -> bytes:
    return nbformat.writes(notebook).encode()


def crashes(ch: Chapter) -> Submission:
    """A kernel crash, a segfault, an infinite loop, sys.exit, a memory hog and a 5 MB error."""
    a = ch.answers
    notebook = ch.notebook({
        a[0]: ch.gated(a[0], "import os\nos._exit(1)"),
        a[1]: ch.gated(a[1], "import ctypes\nctypes.string_at(0)"),
        a[2]: "while True:\n    pass\n" + ch.solved[a[2]],
        a[3]: ch.wrong(a[3], "import sys\ntry:\n    sys.exit(0)\nfinally:\n    pass"),
        a[4]: ch.gated(a[4], "import numpy\nhog = numpy.ones(10**11)\nhog += 1"),
        a[5]: ch.wrong(a[5], result="(_ for _ in ()).throw(ValueError('x' * 5_000_000))"),
    })
    return Submission("crashes", _raw(notebook), ch.expect(a[:6]),
                      ["kernel died", "interrupted"])


def structure(ch: Chapter) -> Submission:
    """Edited, deleted and duplicated cells; inserted cells; an answer calling the reference."""
    a = ch.answers
    notebook = ch.notebook({x: ch.wrong(x) for x in a[:5]})
    ch.cell(notebook, ch.test_of[a[0]]).source = "pass"
    notebook.cells.pop(ch.index(notebook, ch.test_of[a[1]]))
    notebook.cells.pop(ch.index(notebook, a[2]))
    duplicate = copy.deepcopy(ch.cell(notebook, a[3]))
    duplicate.source = ch.solved[a[3]]
    notebook.cells.insert(ch.index(notebook, ch.test_of[a[3]]) + 1, duplicate)
    inserted = nbformat.v4.new_code_cell(
        "from course_utils import grading\n"
        "for _name in dir(grading):\n"
        "    if _name.startswith('assert_'):\n"
        "        setattr(grading, _name, lambda *args, **kwargs: None)\n"
        f"def {a[4]}(*args, **kwargs):\n    return None\n")
    notebook.cells.insert(ch.index(notebook, a[4]) + 1, inserted)
    ch.cell(notebook, a[5]).source = calls_reference(a[5])
    return Submission("structure", _raw(notebook), ch.expect(a[:6]),
                      ["was edited", "was deleted", "is missing", "appears 2 times",
                       "not run by the grader",
                       "may not call the course's reference implementation"])


def calls_reference(*names: str, chapter: str = "") -> str:
    """An answer that finds the course's reference implementations of `names` and calls them
    (those graded in `chapter`, or in any chapter when it is empty)."""
    wanted = f"== {chapter!r}" if chapter else "is not None"
    finder = ("import functools, importlib, pkgutil, course_utils\n"
              "@functools.cache\n"
              "def _reference(name):\n"
              "    for info in pkgutil.walk_packages(course_utils.__path__, 'course_utils.'):\n"
              "        try:\n            module = importlib.import_module(info.name)\n"
              "        except Exception:\n            continue\n"
              "        function = getattr(module, name, None)\n"
              f"        if getattr(function, '__graded_in__', None) {wanted}:\n"
              "            return function\n")
    return finder + "".join(f"def {name}(*args, **kwargs):\n"
                            f"    return _reference({name!r})(*args, **kwargs)\n" for name in names)


def metadata(ch: Chapter) -> Submission:
    """skip-execution / raises-exception tags, changed points, flags and ids, an unkillable loop."""
    a = ch.answers
    notebook = ch.notebook({x: ch.wrong(x) for x in a[:4]})
    ch.cell(notebook, ch.test_of[a[0]]).metadata["tags"] = ["skip-execution"]
    ch.cell(notebook, ch.test_of[a[1]]).metadata["tags"] = ["raises-exception"]
    test = ch.cell(notebook, ch.test_of[a[2]])
    test.metadata["nbgrader"].update(points=100, grade=False, solution=True, locked=False)
    test.source = "pass"
    ch.cell(notebook, a[3]).metadata["nbgrader"]["grade_id"] = "my_own_id"
    ch.cell(notebook, ch.test_of[a[4]]).metadata["nbgrader"]["points"] = 50
    notebook.cells[ch.index(notebook, a[5])].source = ch.gated(
        a[5], "import time\nwhile True:\n    try:\n        time.sleep(0.1)\n"
              "    except BaseException:\n        pass")
    expected = ch.expect(a[:4] + [a[5]])
    return Submission("metadata", _raw(notebook), expected,
                      ["metadata", "is missing", "ignored the interrupt"])


def monkeypatching(ch: Chapter) -> Submission:
    """Wrong answers that patch what the tests rely on, or fake a score, so that tests would
    pass."""
    a = ch.answers
    cheat = (
        "import numpy as _np\n"
        "class Cheat(_np.ndarray):\n"
        "    def __eq__(self, other): return True\n"
        "    def __ne__(self, other): return False\n"
        "    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):\n"
        "        return _np.ones(_np.broadcast(*[_np.asarray(i) for i in inputs]).shape, bool)\n")
    fake_full_marks = (
        "def _fake_full_marks():\n"
        "    ip = get_ipython()\n"
        "    ip.kernel.session.send(ip.kernel.iopub_socket, 'execute_result',\n"
        "        {'data': {'text/plain': '1e9'}, 'metadata': {}, 'execution_count': 1},\n"
        "        parent=ip.parent_header)\n")
    notebook = ch.notebook({
        a[0]: ch.wrong(a[0], "import numpy as np\nnp.allclose = lambda *a, **k: True\n"
                             "np.isclose = lambda a, b, **k: "
                             "np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, bool)\n"
                             "np.testing.assert_allclose = lambda *a, **k: None\n"
                             "np.array_equal = lambda *a, **k: True"),
        a[1]: ch.wrong(a[1], "from course_utils import grading\nfor _n in dir(grading):\n"
                             "    if _n.startswith('assert_') or _n.startswith('_'):\n"
                             "        try:\n"
                             "            setattr(grading, _n, lambda *a, **k: None)\n"
                             "        except (AttributeError, TypeError):\n            pass\n"
                             "grading._fail.__code__ = (lambda *a, **k: None).__code__"),
        a[2]: ch.wrong(a[2], "import builtins\nbuiltins.AssertionError = Warning\n"
                             "builtins.all = lambda *a: True\nbuiltins.abs = lambda x: 0"),
        a[3]: ch.wrong(a[3], cheat, result="_np.zeros((1, 2, 2, 2)).view(Cheat)"),
        a[4]: ch.wrong(a[4], "import sys, os\nsys.stdout = sys.stderr = open(os.devnull, 'w')\n"
                             "ip = get_ipython()\nip.showtraceback = lambda *a, **k: None\n"
                             "ip._showtraceback = lambda *a, **k: None\n"
                             "type(ip).showtraceback = lambda *a, **k: None"),
        a[5]: ch.wrong(a[5], fake_full_marks, result="_fake_full_marks()"),
    })
    return Submission("monkeypatching", _raw(notebook), ch.expect(a[:6]),
                      ["numpy.allclose", "course_utils.grading", "builtins", "showtraceback"])


# Makes every course_utils.grading assertion pass: what the attacks below try to run in the tests.
PATCH_CHECKS = ("def _patch_checks(*args, **kwargs):\n"
                "    from course_utils import grading as _grading\n"
                "    for _name in dir(_grading):\n"
                "        if _name.startswith('assert_'):\n"
                "            setattr(_grading, _name, lambda *a, **k: None)\n")


def _attempt(attack: str) -> str:
    """Top-level code that tries `attack` and prints, rather than fails, when it is refused."""
    body = "\n".join("    " + line for line in attack.strip().splitlines())
    return (f"{PATCH_CHECKS}try:\n{body}\n"
            "except Exception as error:\n    print('attack refused:', error)\n")


def ipython_hooks(ch: Chapter) -> Submission:
    """Wrong answers with IPython's own hooks: transformers that rewrite the test cells, an event
    callback, gc callbacks, rebinding a name the tests use, a patch made when a test calls it."""
    a = ch.answers
    notebook = ch.notebook({
        a[0]: ch.wrong(a[0], _attempt(
            "import ast\nclass _Blank(ast.NodeTransformer):\n    def visit_Module(self, node):\n"
            "        return ast.Module(body=[], type_ignores=[])\n"
            "get_ipython().ast_transformers.append(_Blank())")),
        a[1]: ch.wrong(a[1], _attempt(
            "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])")),
        a[2]: ch.wrong(a[2], _attempt(
            "get_ipython().events.register('pre_run_cell', _patch_checks)")),
        a[3]: ch.wrong(a[3], _attempt("import gc\ngc.callbacks.append(_patch_checks)")),
        a[4]: ch.wrong(a[4], "class _Lenient:\n    def __getattr__(self, name):\n"
                             "        return lambda *args, **kwargs: None\ngrading = _Lenient()"),
        a[5]: ch.wrong(a[5], PATCH_CHECKS, result="_patch_checks()"),
    })
    return Submission("ipython_hooks", _raw(notebook), ch.expect(a[:6]),
                      ["ast_transformers", "input_transformers_post", "pre_run_cell", "callbacks",
                       "the notebook's name 'grading'", "while this test ran, so it scores 0"])


def interpreter_hooks(ch: Chapter) -> Submission:
    """Wrong answers that would act while a test runs: a tracer, a profiler, a thread, a timer,
    an audit hook."""
    a = ch.answers
    notebook = ch.notebook({
        a[0]: ch.wrong(a[0], _attempt("import sys\nsys.settrace(lambda *args: _patch_checks())")),
        a[1]: ch.wrong(a[1], _attempt("import threading\nthreading.setprofile(_patch_checks)\n"
                                      "import sys\nsys.setprofile(lambda *args: _patch_checks())")),
        a[2]: ch.wrong(a[2], _attempt("import threading, time\ndef _loop():\n    while True:\n"
                                      "        _patch_checks()\n        time.sleep(0.001)\n"
                                      "threading.Thread(target=_loop, daemon=True).start()")),
        a[3]: ch.wrong(a[3], _attempt(
            "import signal\nsignal.signal(signal.SIGALRM, _patch_checks)\n"
            "signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)")),
        a[4]: ch.wrong(a[4], _attempt(
            "import sys\nsys.addaudithook("
            "lambda event, args: _patch_checks() if event == 'exec' else None)")),
    })
    return Submission("interpreter_hooks", _raw(notebook), ch.expect(a[:5]),
                      ["set a trace function", "set a profile function", "start a thread",
                       "SIGALRM", "add an audit hook"])


def exits(ch: Chapter) -> Submission:
    """Correct answers that end with exit(), quit() or the shell's ask_exit(): a graded kernel
    keeps running, so they keep their points (they used to cost restarts and replays)."""
    a = ch.answers
    notebook = ch.notebook({a[0]: ch.solved[a[0]] + "\nexit()\n",
                            a[1]: ch.solved[a[1]] + "\nquit()\n",
                            a[2]: ch.solved[a[2]] + "\nget_ipython().ask_exit()\n"})
    return Submission("exits", _raw(notebook), ch.full_marks())


def escapes(ch: Chapter, secrets: list[str], port: int) -> Submission:
    """Answers that are right only if they can read a secret file or reach the network."""
    a = ch.answers
    reads = {a[i]: ch.gated(a[i], f"print('LEAKED', open({path!r}).read()[:100])")
             for i, path in enumerate(secrets[:3])}
    notebook = ch.notebook({
        **reads,
        a[3]: ch.gated(a[3], "import socket\n"
                             f"socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
                             "print('LEAKED network')"),
        a[4]: ch.gated(a[4], "import socket\n"
                             "socket.create_connection(('1.1.1.1', 53), timeout=3)\n"
                             "print('LEAKED network')"),
        a[5]: ch.gated(
            a[5], "print('x' * 10**7)\nimport threading, time\nfor _ in range(2000):\n"
                  "    threading.Thread(target=time.sleep, args=(20,), daemon=True).start()"),
    })
    return Submission("escapes", _raw(notebook), ch.expect(a[:6]), ["attack failed"])


def unreadable(ch: Chapter, other_chapter: NotebookNode) -> list[Submission]:
    """Invalid JSON, an empty file, and another chapter's notebook: zero, with a reason."""
    zero = {test: 0.0 for test in ch.points}
    text = _raw(ch.notebook()).decode()
    return [Submission("invalid_json", text[: len(text) // 2].encode(), zero,
                       ["not valid notebook JSON"]),
            Submission("empty", b"", zero, ["empty"]),
            Submission("other_chapter", _raw(other_chapter), zero, ["another chapter"])]


def all_attacks(ch: Chapter, secrets: list[str], port: int,
                other_chapter: NotebookNode) -> list[Submission]:
    """Every hostile submission, plus a solved and an untouched one as controls."""
    assert len(ch.answers) >= 6, "the attack suite needs a chapter with at least 6 answers"
    controls = [Submission("solved", _raw(ch.notebook()), ch.full_marks()),
                Submission("untouched", _raw(ch.release), {t: 0.0 for t in ch.points})]
    return controls + [crashes(ch), structure(ch), metadata(ch), monkeypatching(ch),
                       ipython_hooks(ch), interpreter_hooks(ch), exits(ch),
                       escapes(ch, secrets, port)] + unreadable(ch, other_chapter)


def json_bytes(value: object) -> bytes:
    return json.dumps(value).encode()
