from pathlib import Path

import pytest

from course_utils.workspace import sync_workspace


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_copies_new_files_and_never_overwrites(tmp_path):
    assignments, work = tmp_path / "assignments", tmp_path / "work"
    write(assignments / "ch01" / "ch01.ipynb", "course v1")
    added, differing = sync_workspace(assignments, work)
    assert added == [work / "ch01" / "ch01.ipynb"] and differing == []

    write(work / "ch01" / "ch01.ipynb", "student's answers")
    write(assignments / "ch01" / "ch01.ipynb", "course v2")
    write(assignments / "ch02" / "ch02.ipynb", "new chapter")
    added, differing = sync_workspace(assignments, work)
    assert added == [work / "ch02" / "ch02.ipynb"]
    assert differing == [work / "ch01" / "ch01.ipynb"]
    assert (work / "ch01" / "ch01.ipynb").read_text() == "student's answers"


def test_unchanged_copies_are_not_reported(tmp_path):
    write(tmp_path / "assignments" / "a.ipynb", "same")
    sync_workspace(tmp_path / "assignments", tmp_path / "work")
    assert sync_workspace(tmp_path / "assignments", tmp_path / "work") == ([], [])


def test_missing_assignments_folder_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="course folder"):
        sync_workspace(tmp_path / "nowhere", tmp_path / "work")
