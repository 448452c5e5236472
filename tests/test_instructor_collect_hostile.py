"""make collect against a careless or hostile LMS export: links, odd files, odd names, clashes
and broken timestamps are refused and reported; nothing outside the export is ever read."""

from __future__ import annotations

import os
import stat
import warnings
import zipfile
from pathlib import Path

import pytest
from nbgrader.utils import parse_utc

from instructor.collect import collect, main, match, student_id
from instructor.course import Course

CHAPTERS = ["ch01_introduction", "ch02_image_classification"]
CH01 = "ch01_introduction"
SECRET = b'{"solution": "the instructor\'s notebook"}'


@pytest.fixture
def course(tmp_path) -> Course:
    for chapter in CHAPTERS:
        (tmp_path / "course" / "solutions" / chapter).mkdir(parents=True)
    (tmp_path / "course" / "solutions" / CH01 / f"{CH01}.ipynb").write_bytes(SECRET)
    return Course(tmp_path / "course")


def _export(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def _submitted_files(course: Course) -> list[bytes]:
    return [path.read_bytes() for path in (course.root / "submitted").rglob("*") if path.is_file()]


def _reason(report, name: str) -> str:
    (line,) = [line for line in report.unmatched if line.startswith(f"{name}: ")]
    return line.removeprefix(f"{name}: ")


# 1. links and other files that are not regular files

def test_a_symlinked_notebook_is_refused_and_never_followed(course, tmp_path):
    export = _export(tmp_path / "export", {"bob_ch01_introduction.ipynb": b"bob's"})
    solution = course.root / "solutions" / CH01 / f"{CH01}.ipynb"
    (export / "alice_ch01_introduction.ipynb").symlink_to(solution)
    (export / "carol_ch01_introduction.ipynb").symlink_to(tmp_path / "nowhere.ipynb")
    report = collect(export, course)
    assert _reason(report, "alice_ch01_introduction.ipynb") == "a symbolic link (not followed)"
    assert _reason(report, "carol_ch01_introduction.ipynb") == "a symbolic link (not followed)"
    assert report.new == ["bob/ch01_introduction"]
    assert SECRET not in _submitted_files(course)
    assert not course.submitted("alice", CH01).parent.exists()


def test_a_symlinked_folder_is_refused_and_not_looked_into(course, tmp_path):
    elsewhere = _export(tmp_path / "elsewhere", {"bob_ch01_introduction.ipynb": b"bob's"})
    export = _export(tmp_path / "export", {})
    (export / "more").symlink_to(elsewhere, target_is_directory=True)
    (export / "solutions").symlink_to(course.root / "solutions", target_is_directory=True)
    report = collect(export, course)
    assert _reason(report, "more") == "a symbolic link (not followed)"
    assert _reason(report, "solutions") == "a symbolic link (not followed)"
    assert report.new == [] and not (course.root / "submitted").exists()


def test_fifos_and_folders_named_like_notebooks_are_refused(course, tmp_path):
    export = _export(tmp_path / "export", {
        "dave_ch01_introduction.ipynb/inside_ch01_introduction.ipynb": b"{}",
        "erin_ch01_introduction.ipynb": b"erin's",
    })
    os.mkfifo(export / "carol_ch01_introduction.ipynb")  # opening it would block collect
    report = collect(export, course)
    assert _reason(report, "carol_ch01_introduction.ipynb") == "not a regular file (a named pipe)"
    assert _reason(report, "dave_ch01_introduction.ipynb") == "a folder, not a notebook file"
    assert report.new == ["erin/ch01_introduction"]


def _zip(path: Path, entries: list[tuple[str, bytes, int]]) -> Path:
    """A zip of (name, data, unix mode) entries; mode 0 leaves the entry's type unset."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            archive.writestr(info, data)
    return path


def test_zip_links_devices_and_escaping_entries_are_refused_and_listed(course, tmp_path):
    link = b"../../solutions/ch01_introduction/ch01_introduction.ipynb"
    archive = _zip(tmp_path / "export.zip", [
        ("alice_ch01_introduction.ipynb", link, stat.S_IFLNK | 0o777),
        ("bob_ch01_introduction.ipynb", b"", stat.S_IFCHR | 0o600),
        ("../../carol_ch01_introduction.ipynb", b"outside", 0o600),
        ("/tmp/dave_ch01_introduction.ipynb", b"absolute", stat.S_IFREG | 0o600),
        ("x/../../erin_ch01_introduction.ipynb", b"outside", 0),
        ("../.hidden_ch01_introduction.ipynb", b"hidden", 0),
        ("frank_ch01_introduction.ipynb", b"frank's", stat.S_IFREG | 0o644),
        ("gina_ch01_introduction.ipynb", b"gina's", 0),
    ])
    report = collect(archive, course)
    assert _reason(report, "alice_ch01_introduction.ipynb") == \
        "a symbolic link (not followed) in the zip (not extracted)"
    assert _reason(report, "bob_ch01_introduction.ipynb") == \
        "not a regular file (a character device) in the zip (not extracted)"
    for name in ["../../carol_ch01_introduction.ipynb", "/tmp/dave_ch01_introduction.ipynb",
                 "x/../../erin_ch01_introduction.ipynb"]:
        assert _reason(report, name) == "its path leads out of the export (not extracted)"
    assert len(report.unmatched) == 5  # the hidden entry is skipped silently, as in a folder
    assert report.new == ["frank/ch01_introduction", "gina/ch01_introduction"]
    assert SECRET not in _submitted_files(course)
    assert not any(tmp_path.rglob("carol_*"))
    assert not Path("/tmp/dave_ch01_introduction.ipynb").exists()


@pytest.mark.parametrize("second", ["alice_ch01_introduction.ipynb",
                                    "./alice_ch01_introduction.ipynb"])
def test_a_name_twice_in_a_zip_is_refused(course, tmp_path, second):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about a duplicate name, and writes it
        archive = _zip(tmp_path / "export.zip", [("alice_ch01_introduction.ipynb", b"one", 0),
                                                 (second, b"two", 0)])
    report = collect(archive, course)
    assert report.unmatched == ["alice_ch01_introduction.ipynb: 2 zip entries have this name "
                                "(none extracted)", f"{second}: 2 zip entries have this name "
                                "(none extracted)"]
    assert report.new == [] and not (course.root / "submitted").exists()


# 2. student ids

@pytest.mark.parametrize("name, why", [
    ("alice\n", "U+000A is not allowed"), ("al\tice", "U+0009 is not allowed"),
    ("al ice", "a space is not allowed"), ("a/b", "'/' is not allowed"),
    ("a\\b", "'\\' is not allowed"), ("a@b", "'@' is not allowed"),
    ("alice\u202e", "U+202E is not allowed"), ("zo\u00a0e", "U+00A0 is not allowed"),
    ("-alice", "must start with a letter or digit"), ("..", "must start with a letter or digit"),
    ("\u0308", "must start with a letter or digit"), ("a" * 129, "longer than 128 characters"),
])
def test_ids_with_control_characters_separators_or_punctuation_are_refused(name, why):
    with pytest.raises(ValueError, match="is not a valid student id") as error:
        student_id(name)
    assert why in str(error.value)


def test_a_newline_in_a_file_name_is_refused_and_shown_escaped(course, tmp_path):
    export = _export(tmp_path / "export", {"alice\n_ch01_introduction.ipynb": b"{}",
                                           "x\n  fake line.ipynb": b"{}"})
    name = "alice\n_ch01_introduction.ipynb"
    found = match(export / name, Path(name), CHAPTERS)
    assert found == "'alice\\n' is not a valid student id (U+000A is not allowed)"
    report = collect(export, course)
    assert "\n" not in "".join(report.lines())
    assert report.unmatched == [
        "alice\\n_ch01_introduction.ipynb: 'alice\\n' is not a valid student id "
        "(U+000A is not allowed)",
        "x\\n  fake line.ipynb: no chapter name in the file name "
        "(chapters: ch01_introduction, ch02_image_classification)"]


@pytest.mark.parametrize("name, expected", [
    ("zoë", "zoe"), ("zoe\u0308", "zoe"), ("josé", "jose"), ("łukasz", "lukasz"),
    ("Strauß", "Strauss"), ("søren", "soren"), ("Ærø", "AEro"), ("ｊｏｅ", "joe"),
    ("李", "u674e"), ("Mary-Ann.O_Neil", "Mary-Ann.O_Neil"),
])
def test_letters_outside_ascii_map_to_a_documented_id(name, expected):
    assert student_id(name) == expected


def test_a_mapped_id_is_collected_and_the_mapping_reported(course, tmp_path):
    export = _export(tmp_path / "export", {
        "zoë_ch01_introduction.ipynb": b"zoe's",
        "submitted/łukasz/ch02_image_classification/ch02_image_classification.ipynb": b"lukasz's",
    })
    report = collect(export, course)
    assert course.submitted("zoe", CH01).read_bytes() == b"zoe's"
    assert course.submitted("lukasz", "ch02_image_classification").read_bytes() == b"lukasz's"
    assert report.mapped == ["'zoë' -> 'zoe'", "'łukasz' -> 'lukasz'"]
    assert "  student id mapped: 'zoë' -> 'zoe'" in report.lines()


# 3. one student and chapter claimed from more than one place

def test_one_id_from_two_folders_is_a_clash_and_submitted_is_left_alone(course, tmp_path):
    course.submitted("alice", CH01).parent.mkdir(parents=True)
    course.submitted("alice", CH01).write_bytes(b"collected last week")
    export = _export(tmp_path / "export", {
        "bob/alice_ch01_introduction.ipynb": b"bob's upload",
        "alice/alice_ch01_introduction-1.ipynb": b"alice's",
        "carol_ch01_introduction.ipynb": b"carol's",
    })
    report = collect(export, course)
    assert course.submitted("alice", CH01).read_bytes() == b"collected last week"
    assert report.clashes == [
        "alice/ch01_introduction: alice/alice_ch01_introduction-1.ipynb, "
        "bob/alice_ch01_introduction.ipynb"]
    assert report.new == ["carol/ch01_introduction"]
    assert any("claimed from more than one place, not collected" in line and "--take FILE" in line
               for line in report.lines())


def test_two_names_mapping_to_one_id_are_a_clash(course, tmp_path):
    export = _export(tmp_path / "export", {"zoë_ch01_introduction.ipynb": b"one zoe",
                                           "zoe_ch01_introduction.ipynb": b"another zoe"})
    report = collect(export, course)
    assert report.clashes == ["zoe/ch01_introduction: zoe_ch01_introduction.ipynb, "
                              "zoë_ch01_introduction.ipynb"]
    assert not (course.root / "submitted").exists()


def test_nbgrader_layout_and_an_lms_file_for_one_student_are_a_clash(course, tmp_path):
    export = _export(tmp_path / "export", {
        "submitted/alice/ch01_introduction/ch01_introduction.ipynb": b"layout",
        "alice_ch01_introduction.ipynb": b"lms",
    })
    assert len(collect(export, course).clashes) == 1


def test_take_names_the_file_to_collect(course, tmp_path):
    export = _export(tmp_path / "export", {"bob/alice_ch01_introduction.ipynb": b"bob's upload",
                                           "alice/alice_ch01_introduction.ipynb": b"alice's"})
    report = collect(export, course, take=["./alice/alice_ch01_introduction.ipynb", "typo.ipynb"])
    assert course.submitted("alice", CH01).read_bytes() == b"alice's"
    assert report.clashes == []
    assert report.taken == [
        "taken with --take: alice/alice_ch01_introduction.ipynb for alice/ch01_introduction "
        "(not collected: bob/alice_ch01_introduction.ipynb)",
        "--take typo.ipynb: no matched notebook has this path in the export (ignored)"]
    both = collect(export, course, take=["alice/alice_ch01_introduction.ipynb",
                                          "bob/alice_ch01_introduction.ipynb"])
    assert len(both.clashes) == 1


def test_resubmissions_in_one_place_are_not_a_clash(course, tmp_path):
    export = _export(tmp_path / "export", {
        "alice_ch01_introduction.ipynb": b"first",
        "alice-ch01_introduction_v2.ipynb": b"third",
        "alice_ch01_introduction-1.ipynb": b"second",
    })
    report = collect(export, course)
    assert report.clashes == []
    assert course.submitted("alice", CH01).read_bytes() == b"third"
    assert sorted(report.replaced) == ["alice_ch01_introduction-1.ipynb",
                                       "alice_ch01_introduction.ipynb"]


# 4. nbgrader's timestamp.txt

LAYOUT = "submitted/carol/ch01_introduction"


@pytest.mark.parametrize("raw, why", [
    (b"garbage", "'garbage' is not a date nbgrader can read"),
    (b"", "'' is not a date nbgrader can read"),
    (b"9" * 30, "is not a date nbgrader can read"),  # dateutil overflows
    (b"2026-11-20 10:00:00 " + b"9" * 20, "is not a date nbgrader can read"),
    (b"10:00 XYZ", "is not a date nbgrader can read"),  # a zone dateutil does not know
    (b"2026-11-20 10:00:00" + b" " * 2000, "larger than 1024 bytes"),
    (b"\xff\xfe2\x000\x002\x006\x00", "not ASCII text"),
    ("2026-11-20 10:00:00 Zürich".encode(), "not ASCII text"),
])
def test_a_malformed_timestamp_is_reported_and_not_copied(course, tmp_path, raw, why):
    previous = course.submitted("carol", CH01).parent / "timestamp.txt"
    previous.parent.mkdir(parents=True)
    previous.write_text("2026-01-01 00:00:00")  # from an earlier collect: now stale
    export = _export(tmp_path / "export", {f"{LAYOUT}/{CH01}.ipynb": b"carol's",
                                           f"{LAYOUT}/timestamp.txt": raw})
    report = collect(export, course)
    assert report.new == ["carol/ch01_introduction"] and report.unmatched == []
    (line,) = report.timestamps
    assert line.startswith(f"{LAYOUT}/timestamp.txt: ") and why in line
    assert "  timestamp ignored, collected without one: " + line in report.lines()
    assert not previous.exists()


def test_a_symlinked_timestamp_is_not_followed(course, tmp_path):
    export = _export(tmp_path / "export", {f"{LAYOUT}/{CH01}.ipynb": b"carol's"})
    elsewhere = tmp_path / "timestamp.txt"
    elsewhere.write_text("2026-11-20 10:00:00")  # valid, but not in the export
    (export / LAYOUT / "timestamp.txt").symlink_to(elsewhere)
    report = collect(export, course)
    assert report.timestamps == [f"{LAYOUT}/timestamp.txt: a symbolic link (not followed)"]
    assert not (course.submitted("carol", CH01).parent / "timestamp.txt").exists()


def test_a_good_timestamp_is_kept_and_others_are_not_copied(course, tmp_path):
    export = _export(tmp_path / "export", {
        f"{LAYOUT}/{CH01}.ipynb": b"carol's",
        f"{LAYOUT}/timestamp.txt": b"2026-11-20 10:00:00.123456 UTC\n",
        "dave_ch01_introduction.ipynb": b"dave's",
        "timestamp.txt": b"2026-11-20 10:00:00",  # not nbgrader's layout: belongs to no one
    })
    report = collect(export, course)
    stored = (course.submitted("carol", CH01).parent / "timestamp.txt").read_text()
    assert stored == "2026-11-20 10:00:00.123456 UTC" and parse_utc(stored)
    assert report.timestamps == []
    assert report.unmatched == ["timestamp.txt: not a notebook (.ipynb)"]
    assert not (course.submitted("dave", CH01).parent / "timestamp.txt").exists()


# 5. the command

def test_the_command_exits_0_and_prints_what_it_refused(course, tmp_path, capsys):
    export = _export(tmp_path / "export", {"alice_ch01_introduction.ipynb": b"{}",
                                           "bob/carol_ch01_introduction.ipynb": b"{}",
                                           "carol/carol_ch01_introduction.ipynb": b"{}"})
    (export / "dave_ch01_introduction.ipynb").symlink_to(export / "alice_ch01_introduction.ipynb")
    main([str(export), "--course", str(course.root)])  # returns: exit status 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "collected 1 submission(s): 1 new, 0 changed, 0 unchanged"
    assert "  dave_ch01_introduction.ipynb: a symbolic link (not followed)" in out
    assert "  carol/ch01_introduction: bob/carol_ch01_introduction.ipynb, " \
           "carol/carol_ch01_introduction.ipynb" in out
    main([str(export), "--course", str(course.root),
          "--take", "carol/carol_ch01_introduction.ipynb"])
    assert course.submitted("carol", CH01).exists()


def test_the_command_refuses_a_broken_zip_with_a_message(course, tmp_path):
    archive = _zip(tmp_path / "export.zip", [("alice_ch01_introduction.ipynb", b"{}", 0)])
    archive.write_bytes(archive.read_bytes().replace(b"PK\x01\x02", b"XX\x01\x02"))
    with pytest.raises(SystemExit) as exit_:  # the end record is intact: it looks like a zip
        main([str(archive), "--course", str(course.root)])
    assert str(exit_.value.code).startswith(f"{archive} is not a readable zip file (")
