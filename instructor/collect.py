"""Import submitted notebooks into COURSE/submitted/STUDENT/CHAPTER/CHAPTER.ipynb.

    python -m instructor.collect PATH [--course DIR]

PATH is a folder or a zip, as an LMS exports it: one file per student named like
`alice_ch02_image_classification.ipynb` (anything before the chapter name is the student id;
a suffix after it such as `-1` or `_v2` marks a resubmission, the later file wins), or nbgrader's
own layout `submitted/STUDENT/CHAPTER/CHAPTER.ipynb` (with its timestamp.txt). Files are copied
as they are, broken ones included (the grader explains to the student what is wrong with
them). Everything that could not be matched is listed with the reason.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from instructor.course import Course

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class Found:
    student: str
    chapter: str
    path: Path
    rank: tuple = ()


@dataclass
class Report:
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        total = len(self.new) + len(self.changed) + len(self.unchanged)
        out = [f"collected {total} submission(s): {len(self.new)} new, "
               f"{len(self.changed)} changed, {len(self.unchanged)} unchanged"]
        out += [f"  older resubmission ignored: {item}" for item in self.replaced]
        if self.unmatched:
            out.append(f"{len(self.unmatched)} file(s) could not be matched:")
            out += [f"  {item}" for item in self.unmatched]
        return out


def match(path: Path, relative: Path, chapters: list[str]) -> Found | str:
    """The (student, chapter) of one file, or why it cannot be matched."""
    if path.suffix != ".ipynb":
        return "not a notebook (.ipynb)"
    parts = relative.parts
    if len(parts) >= 3 and parts[-2] in chapters and path.stem == parts[-2]:
        student = parts[-3]  # nbgrader layout: STUDENT/CHAPTER/CHAPTER.ipynb
        if not STUDENT_ID.match(student):
            return f"student folder name '{student}' is not a valid id"
        return Found(student, parts[-2], path, (path.stat().st_mtime,))
    for chapter in sorted(chapters, key=len, reverse=True):
        head, sep, tail = path.stem.partition(chapter)
        if not sep:
            continue
        student = head.rstrip("_-. ")
        resubmission = re.fullmatch(r"[-_ ]?(?:v|\()?(\d*)\)?", tail)
        if not student:
            return f"no student id before the chapter name '{chapter}'"
        if not STUDENT_ID.match(student):
            return f"'{student}' is not a valid student id"
        if resubmission is None:
            return f"unexpected text '{tail}' after the chapter name"
        number = int(resubmission.group(1) or 0)
        return Found(student, chapter, path, (number, path.stat().st_mtime))
    return f"no chapter name in the file name (chapters: {', '.join(chapters)})"


def collect(source: Path, course: Course) -> Report:
    """Copy the submissions in `source` (folder or zip) into the course; report what happened."""
    chapters = course.chapters()
    report = Report()
    with tempfile.TemporaryDirectory(prefix="collect-") as temporary:
        folder = _unpacked(source, Path(temporary))
        best: dict[tuple[str, str], Found] = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = path.relative_to(folder)
            if any(part.startswith(".") or part == "__MACOSX" for part in relative.parts):
                continue
            found = match(path, relative, chapters)
            if isinstance(found, str):
                report.unmatched.append(f"{relative}: {found}")
                continue
            key = (found.student, found.chapter)
            if key in best:
                older, newer = sorted([best[key], found], key=lambda f: f.rank)
                report.replaced.append(str(older.path.relative_to(folder)))
                found = newer
            best[key] = found
        for (student, chapter), found in sorted(best.items()):
            _store(found, course.submitted(student, chapter), report)
    return report


def _unpacked(source: Path, temporary: Path) -> Path:
    if source.is_dir():
        return source
    if not zipfile.is_zipfile(source):
        raise ValueError(f"{source} is neither a folder nor a zip file")
    with zipfile.ZipFile(source) as archive:
        for member in archive.infolist():
            target = (temporary / member.filename).resolve()
            if temporary.resolve() not in target.parents or member.is_dir():
                continue  # skip folders and entries that would land outside (zip slip)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as data, open(target, "wb") as out:
                shutil.copyfileobj(data, out)
    return temporary


def _store(found: Found, destination: Path, report: Report) -> None:
    name = f"{found.student}/{found.chapter}"
    raw = found.path.read_bytes()
    if destination.exists():
        if destination.read_bytes() == raw:
            report.unchanged.append(name)
            return
        report.changed.append(name)
    else:
        report.new.append(name)
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(raw)
    timestamp = found.path.parent / "timestamp.txt"
    if timestamp.exists():
        shutil.copy(timestamp, destination.parent / "timestamp.txt")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", help="folder or zip of submitted notebooks")
    parser.add_argument("--course", default=".", help="course folder (default: here)")
    args = parser.parse_args(argv)
    source = Path(args.submissions)
    if not source.exists():
        sys.exit(f"{source} does not exist")
    report = collect(source, Course(Path(args.course).resolve()))
    print("\n".join(report.lines()))


if __name__ == "__main__":
    main()
