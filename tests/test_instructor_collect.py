"""make collect: LMS exports (folder or zip) and nbgrader's layout into submitted/."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from instructor.collect import collect, match
from instructor.course import Course

CHAPTERS = ["ch01_introduction", "ch02_image_classification"]


@pytest.fixture
def course(tmp_path) -> Course:
    for chapter in CHAPTERS:
        (tmp_path / "course" / "solutions" / chapter).mkdir(parents=True)
    return Course(tmp_path / "course")


def _export(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def test_lms_names_are_matched(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    cases = {
        "alice_ch02_image_classification.ipynb": ("alice", "ch02_image_classification"),
        "bob.smith-ch01_introduction-1.ipynb": ("bob.smith", "ch01_introduction"),
        "carol_ch01_introduction_v2.ipynb": ("carol", "ch01_introduction"),
    }
    for name, (student, chapter) in cases.items():
        (folder / name).write_text("{}")
        found = match(folder / name, Path(name), CHAPTERS)
        assert (found.student, found.chapter) == (student, chapter)
    for name, reason in {"notes.txt": "not a notebook", "alice_homework.ipynb": "no chapter name",
                         "ch01_introduction.ipynb": "no student id",
                         "al ice_ch01_introduction.ipynb": "not a valid student id",
                         "dave_ch01_introduction_final_really.ipynb": "unexpected text"}.items():
        (folder / name).write_text("{}")
        assert reason in match(folder / name, Path(name), CHAPTERS)


def test_collect_a_folder_reports_unmatched_files_and_keeps_the_latest_resubmission(
        course, tmp_path):
    export = _export(tmp_path / "export", {
        "alice_ch01_introduction.ipynb": b"first",
        "alice_ch01_introduction-2.ipynb": b"second",
        "bob_ch02_image_classification.ipynb": b"{ broken json",
        "readme.txt": b"hello",
        "zed_ch09_unknown.ipynb": b"{}",
    })
    report = collect(export, course)
    assert course.submitted("alice", "ch01_introduction").read_bytes() == b"second"
    assert course.submitted("bob", "ch02_image_classification").read_bytes() == b"{ broken json"
    assert sorted(report.new) == ["alice/ch01_introduction", "bob/ch02_image_classification"]
    assert report.replaced == ["alice_ch01_introduction.ipynb"]
    assert len(report.unmatched) == 2 and any("readme.txt" in line for line in report.unmatched)
    assert "could not be matched" in "\n".join(report.lines())
    again = collect(export, course)
    assert sorted(again.unchanged) == ["alice/ch01_introduction", "bob/ch02_image_classification"]
    assert course.submissions() == [("alice", "ch01_introduction"),
                                    ("bob", "ch02_image_classification")]


def test_collect_a_zip_in_nbgrader_layout(course, tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("submitted/carol/ch01_introduction/ch01_introduction.ipynb", b"carol's")
        zipped.writestr("submitted/carol/ch01_introduction/timestamp.txt", "2026-11-20 10:00:00")
        zipped.writestr("__MACOSX/._junk", b"")
        zipped.writestr("../../escape_ch01_introduction.ipynb", b"outside")
    report = collect(archive, course)
    assert report.new == ["carol/ch01_introduction"]
    folder = course.submitted("carol", "ch01_introduction").parent
    assert (folder / "timestamp.txt").read_text() == "2026-11-20 10:00:00"
    assert not any(p.name.startswith("escape") for p in tmp_path.rglob("*.ipynb"))


def test_collect_refuses_what_is_neither_folder_nor_zip(course, tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("x")
    with pytest.raises(ValueError, match="neither a folder nor a zip"):
        collect(path, course)
    assert not os.path.exists(course.root / "submitted")
