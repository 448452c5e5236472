"""The repository's own promises: pins agree, notebooks are committed clean."""

import tomllib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED_TAG = "nbval-check-output"
NOTEBOOKS = (sorted((ROOT / "solutions").glob("ch*/*.ipynb"))
             + sorted((ROOT / "assignments").glob("ch*/*.ipynb")))


def pinned_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional = {req for reqs in project["optional-dependencies"].values() for req in reqs}
    return set(project["dependencies"]) | optional


def test_environment_yml_has_the_same_pins():
    lines = (ROOT / "environment.yml").read_text().splitlines()
    conda_pins = {line.strip().removeprefix("- ") for line in lines if "==" in line}
    assert conda_pins == pinned_requirements()


def test_every_dependency_is_pinned():
    assert all("==" in requirement for requirement in pinned_requirements())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: str(path.relative_to(ROOT)))
def test_notebook_is_committed_without_stray_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    student = path.is_relative_to(ROOT / "assignments")
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or not cell.outputs:
            continue
        assert not student, f"{path.name} cell {index}: student notebooks carry no outputs"
        assert CHECKED_TAG in cell.metadata.get("tags", []), (
            f"{path.name} cell {index} has outputs but is not tagged {CHECKED_TAG}: "
            "run `python -m instructor.refresh_outputs` on it")


def test_every_chapter_has_a_student_notebook():
    chapters = {path.name for path in (ROOT / "solutions").glob("ch*")}
    assert chapters, "no chapters found in solutions/"
    assert chapters == {path.name for path in (ROOT / "assignments").glob("ch*")}
