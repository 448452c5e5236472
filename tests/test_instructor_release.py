"""The student bundle: AST stripping of open chapters' reference code, contents, leak scan."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from adversarial.support import ROOT, SMALLEST, require_chapter
from instructor import leak_scan
from instructor.release import LeakError, build, released_chapters, student_readme
from instructor.strip import graded_functions, strip_source

SOURCE = '''"""A module."""
from course_utils.graded import graded_in

CONSTANT = 3  # a comment that stays


@graded_in("ch09_demo")
def answer(x: int) -> int:
    """Twice x.

    More text.
    """
    y = x * 2  # the secret
    return y


class Model:
    @graded_in("ch09_demo")
    def forward(self, x):
        return x + CONSTANT

    def helper(self):
        return 1


@graded_in("ch01_introduction")
def closed_answer(x):
    return x - 1
'''


def test_strip_replaces_only_the_bodies_of_open_chapters():
    stripped, functions = strip_source(SOURCE, {"ch09_demo"})
    assert {f.name for f in functions} == {"answer", "forward"}
    assert "x * 2" not in stripped and "x + CONSTANT" not in stripped
    assert '"""Twice x.\n\n    More text.\n    """' in stripped
    assert "CONSTANT = 3  # a comment that stays" in stripped
    assert "return x - 1" in stripped and "return 1" in stripped
    namespace: dict = {}
    exec(compile(stripped, "stripped.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="written in ch09_demo"):
        namespace["answer"](1)
    with pytest.raises(NotImplementedError, match="ch09_demo"):
        namespace["Model"]().forward(1)
    assert namespace["closed_answer"](3) == 2


@pytest.mark.parametrize("line,secret", [
    ("for c in range(C):", False),
    ("for n in range(x.shape[0]):", False),
    ("N, C, H, W = x.shape", False),
    ("out[n, c, i, j] = window.max()", True),
    ("for i, row in enumerate(rows):", True),
])
def test_leak_scan_ignores_lines_every_loop_nest_has(line, secret):
    assert leak_scan._distinctive(line) is secret


def test_graded_functions_reads_the_decorator_argument():
    found = {f.name: f.chapter for f in graded_functions(SOURCE)}
    assert found == {"answer": "ch09_demo", "forward": "ch09_demo",
                     "closed_answer": "ch01_introduction"}


def test_one_line_graded_function_is_refused():
    with pytest.raises(ValueError, match="own lines"):
        strip_source('@graded_in("ch09_demo")\ndef f(x): return x\n', {"ch09_demo"})


def test_released_chapters_include_earlier_ones():
    chapters = ["ch01_a", "ch02_b", "ch10_c", "ch03_d"]
    assert released_chapters(chapters, ["ch03_d"]) == ["ch01_a", "ch02_b", "ch03_d"]
    with pytest.raises(ValueError, match="unknown chapter"):
        released_chapters(chapters, ["ch04_x"])


def test_student_readme_drops_the_instructor_section():
    text = "# Course\n\n## For students\nwork\n\n## For instructors\nsecret\n\n## Data\nmnist\n"
    assert student_readme(text) == "# Course\n\n## For students\nwork\n\n## Data\nmnist\n"


DEMO_MODULE = '''"""Demo reference code."""
from course_utils.graded import graded_in


@graded_in("ch01_demo")
def double(x):
    """Twice x."""
    return x * 2 + 0  # reference for ch01


@graded_in("ch02_later")
def triple(x):
    return x * 3 + 0  # reference for ch02


def shared(x):
    return x
'''


def _chapter_notebook(answer: str, hidden: str) -> nbformat.NotebookNode:
    def meta(**kwargs):
        return {"nbgrader": {"schema_version": 3, "task": False, "locked": False, "solution": False,
                             "grade": False, **kwargs}}
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(f"def f(x):\n    ### BEGIN SOLUTION\n    {answer}\n"
                                  "    ### END SOLUTION",
                                  metadata=meta(solution=True, grade_id="f")),
        nbformat.v4.new_code_cell(f"assert f(1) is not None\n### BEGIN HIDDEN TESTS\n{hidden}\n"
                                  "### END HIDDEN TESTS",
                                  metadata=meta(grade=True, locked=True, points=1,
                                                grade_id="test_f")),
    ])


@pytest.fixture
def small_repo(tmp_path):
    """A repository with two chapters and a course_utils whose functions are graded in each."""
    root = tmp_path / "repo"
    package = root / "course_utils"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""Demo package."""\n')
    shutil.copy(ROOT / "course_utils" / "graded.py", package / "graded.py")
    (package / "demo.py").write_text(DEMO_MODULE)
    (root / "README.md").write_text("# Course\n\n## For students\nrun it\n\n"
                                    "## For instructors\nsecrets\n")
    for name in ("environment.yml", "pyproject.toml"):
        shutil.copy(ROOT / name, root / name)
    chapters = {
        "ch01_demo": ("return x * 2 + 0  # reference for ch01", "assert f(21) == 42 + 0 * 12345"),
        "ch02_later": ("return x * 3 + 0  # reference for ch02", "assert f(14) == 42 + 0 * 54321"),
    }
    for chapter, (answer, hidden) in chapters.items():
        for folder in ("solutions", "assignments"):
            (root / folder / chapter).mkdir(parents=True)
        nbformat.write(_chapter_notebook(answer, hidden),
                       root / "solutions" / chapter / f"{chapter}.ipynb")
        student = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()")])
        nbformat.write(student, root / "assignments" / chapter / f"{chapter}.ipynb")
    return root


def _call(bundle: Path, function: str) -> subprocess.CompletedProcess:
    code = (f"import sys; sys.path.insert(0, {str(bundle)!r}); "
            f"import course_utils.demo as d; print(d.{function}(1))")
    return subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)


def test_release_of_an_open_chapter(small_repo, tmp_path):
    archive = build(["ch01_demo"], None, tmp_path / "out", root=small_repo)
    bundle = archive.with_suffix("")
    assert sorted(p.name for p in bundle.iterdir()) == [
        "README.md", "assignments", "course_utils", "environment.yml", "pyproject.toml"]
    assert [p.name for p in (bundle / "assignments").iterdir()] == ["ch01_demo"]
    assert (bundle / "README.md").read_text() == "# Course\n\n## For students\nrun it\n\n"
    names = zipfile.ZipFile(archive).namelist()
    assert f"{bundle.name}/assignments/ch01_demo/ch01_demo.ipynb" in names
    assert not any("solutions" in n or "instructor" in n or "__pycache__" in n for n in names)
    assert "written in ch01_demo" in _call(bundle, "double").stderr
    assert "written in ch02_later" in _call(bundle, "triple").stderr  # not released yet
    assert _call(bundle, "shared").stdout == "1\n"


def test_release_of_a_later_chapter_keeps_closed_reference_code(small_repo, tmp_path):
    bundle = build(["ch02_later"], None, tmp_path / "out", root=small_repo).with_suffix("")
    assert sorted(p.name for p in (bundle / "assignments").iterdir()) == ["ch01_demo", "ch02_later"]
    assert _call(bundle, "double").stdout == "2\n"
    assert "written in ch02_later" in _call(bundle, "triple").stderr
    still_open = build(["ch02_later"], ["ch01_demo", "ch02_later"], tmp_path / "again",
                       root=small_repo)
    assert "written in ch01_demo" in _call(still_open.with_suffix(""), "double").stderr


def test_leak_scan_stops_a_release_with_unmarked_reference_code(small_repo, tmp_path):
    module = small_repo / "course_utils" / "demo.py"
    module.write_text(module.read_text().replace('@graded_in("ch01_demo")\n', ""))
    with pytest.raises(LeakError, match="release stopped") as error:
        build(["ch01_demo"], None, tmp_path / "out", root=small_repo)
    assert any("return x * 2 + 0" in str(leak) for leak in error.value.leaks)
    assert not list((tmp_path / "out").glob("*.zip"))


def test_leak_scan_finds_hidden_tests_in_a_student_notebook(small_repo, tmp_path):
    shutil.copy(small_repo / "solutions" / "ch01_demo" / "ch01_demo.ipynb",
                small_repo / "assignments" / "ch01_demo" / "ch01_demo.ipynb")
    with pytest.raises(LeakError, match="hidden-test") as error:
        build(["ch01_demo"], None, tmp_path / "out", root=small_repo)
    assert any("assert f(21) == 42 + 0 * 12345" in str(leak) for leak in error.value.leaks)


def test_line_public_in_a_released_chapter_is_no_leak(small_repo, tmp_path):
    common = "example = np.linspace(-1, 1, num=7)"
    for folder in ("solutions", "assignments"):
        path = small_repo / folder / "ch01_demo" / "ch01_demo.ipynb"
        notebook = nbformat.read(path, as_version=4)
        notebook.cells.append(nbformat.v4.new_code_cell(common))
        nbformat.write(notebook, path)
    later = small_repo / "solutions" / "ch02_later" / "ch02_later.ipynb"
    notebook = nbformat.read(later, as_version=4)
    notebook.cells[1].source = notebook.cells[1].source.replace(
        "### END HIDDEN", f"{common}\n### END HIDDEN")
    nbformat.write(notebook, later)
    archive = build(["ch01_demo"], None, tmp_path / "out", root=small_repo)
    released = archive.with_suffix("").joinpath("assignments/ch01_demo/ch01_demo.ipynb")
    assert common in released.read_text()


def test_releasing_the_first_chapter_of_this_course_leaks_nothing(tmp_path):
    """The real course: fails with the list of leaks when course_utils gives an answer away."""
    require_chapter(SMALLEST)
    archive = build([SMALLEST], None, tmp_path / "out")
    assert archive.exists()
