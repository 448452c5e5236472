"""Find solution code and hidden tests of unfinished chapters in a student bundle.

Two checks:
- every distinctive line (16+ characters of code, not a comment) of a solution region or
  hidden-test region of those chapters' instructor notebooks that is not also in a public cell
  of that notebook or of a released chapter (where students see it anyway) must appear in no
  file of the bundle (notebooks are compared cell line by cell line);
- no function of the bundle's course_utils may implement an answer of those chapters: a function
  with the name of one that an answer cell defines must be a NotImplementedError stub (this
  catches a reference implementation someone forgot to mark @graded_in).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

SOLUTION_REGION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
HIDDEN_REGION = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
TEXT_SUFFIXES = {".py", ".ipynb", ".md", ".txt", ".yml", ".yaml", ".toml", ".cfg", ".json", ""}


@dataclass(frozen=True)
class Leak:
    path: str
    chapter: str
    what: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what} (from {self.chapter})"


def _secret_lines(notebook: nbformat.NotebookNode) -> tuple[set[str], set[str], set[str]]:
    """(secret lines, public lines, answer function names) of an instructor notebook."""
    secret, public, names = set(), set(), set()
    for cell in notebook.cells:
        regions = SOLUTION_REGION.findall(cell.source) + HIDDEN_REGION.findall(cell.source)
        for region in regions:
            secret.update(line.strip() for line in region.splitlines())
        public.update(line.strip() for line in
                      HIDDEN_REGION.sub("", SOLUTION_REGION.sub("", cell.source)).splitlines())
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            names.update(n.name for n in tree.body if isinstance(n, ast.FunctionDef))
    kept = {line for line in secret if _distinctive(line)} - public
    return kept, public, names


SHAPE_UNPACKING = re.compile(r"^[\w\s,]+=\s*\w+\.shape$")  # `N, C, H, W = x.shape`
RANGE_LOOP = re.compile(r"^for [\w\s,]+ in range\([\w.\[\], ]*\):$")  # `for c in range(C):`


def _distinctive(line: str) -> bool:
    """Long enough and with some code in it: `continue`, `return out`, unpacking a shape or a
    plain loop header prove nothing."""
    return (len(line) >= 16 and not line.startswith("#") and not SHAPE_UNPACKING.match(line)
            and not RANGE_LOOP.match(line)
            and bool(re.search(r"[(\[=+*/<>-]", line)))


def _file_lines(path: Path) -> list[str]:
    if path.suffix == ".ipynb":
        notebook = nbformat.read(path, as_version=4)
        return [line for cell in notebook.cells for line in cell.source.splitlines()]
    return path.read_text(errors="replace").splitlines()


def _implemented(path: Path, names: set[str]) -> list[str]:
    """Functions in `path` named in `names` whose body is more than a NotImplementedError stub."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef) and node.name in names:
            body = [s for s in node.body
                    if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
            stub = (len(body) == 1 and isinstance(body[0], ast.Raise)
                    and "NotImplementedError" in ast.unparse(body[0]))
            if not stub:
                found.append(node.name)
    return found


def scan(bundle: Path, root: Path, chapters: list[str], released: Sequence[str] = ()) -> list[Leak]:
    """Leaks of `chapters` (open or unreleased) in the bundle folder `bundle`, whose notebooks
    are those of the `released` chapters."""
    leaks: list[Leak] = []
    files = [p for p in sorted(bundle.rglob("*")) if p.is_file() and p.suffix in TEXT_SUFFIXES]
    contents = {p: [line.strip() for line in _file_lines(p)] for p in files}
    # A line that a released chapter shows in its public cells is common code, not an answer.
    released_public: set[str] = set()
    for chapter in released:
        source = root / "solutions" / chapter / f"{chapter}.ipynb"
        if source.exists():
            released_public |= _secret_lines(nbformat.read(source, as_version=4))[1]
    for chapter in chapters:
        source = root / "solutions" / chapter / f"{chapter}.ipynb"
        if not source.exists():
            continue
        secret, _, names = _secret_lines(nbformat.read(source, as_version=4))
        secret -= released_public
        for path, lines in contents.items():
            relative = str(path.relative_to(bundle))
            for line in sorted(secret.intersection(lines)):
                leaks.append(Leak(relative, chapter, f"solution or hidden-test line `{line}`"))
            marked = any(marker in line for line in lines for marker in MARKERS)
            if marked and path.suffix == ".ipynb":
                leaks.append(Leak(relative, chapter, "nbgrader solution/hidden-test markers"))
            if path.suffix == ".py" and "course_utils" in path.parts:
                for name in _implemented(path, names):
                    leaks.append(Leak(relative, chapter, f"implements the answer `{name}`: "
                                                         f"mark it @graded_in(\"{chapter}\")"))
    return sorted(set(leaks), key=lambda leak: (leak.path, leak.what))
