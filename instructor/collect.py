"""Import submitted notebooks into COURSE/submitted/STUDENT/CHAPTER/CHAPTER.ipynb.

    python -m instructor.collect PATH [--course DIR] [--take FILE ...]

PATH is a folder or a zip, as an LMS exports it: one file per student named like
`alice_ch02_image_classification.ipynb` (anything before the chapter name is the student id;
a suffix after it such as `-1` or `_v2` marks a resubmission, the later file wins), or nbgrader's
own layout `submitted/STUDENT/CHAPTER/CHAPTER.ipynb` (with its timestamp.txt). Files are copied
as they are, broken ones included (the grader explains to the student what is wrong with
them). Everything that is not collected is listed with the reason, and the command exits 0
once it has collected what it could. An export is not trusted:

- Only regular files are read. A symbolic link (to a file or a folder), a named pipe, a device,
  a folder named like a notebook is refused and listed; a link is never followed. From a zip,
  symbolic-link entries, entries whose path leads out of the export (`../`, absolute paths)
  and names that occur more than once are refused and not extracted. Hidden files and
  `__MACOSX` are skipped silently.
- Student ids are ASCII letters, digits and `. _ -`, starting with a letter or digit, at most
  128 characters (nbgrader's limit). A name with letters outside ASCII is mapped to an id, and
  the report says which name became which id: each letter is decomposed (Unicode NFKD) and its
  accents dropped (`zoë` -> `zoe`, `josé` -> `jose`, `ｊｏｅ` -> `joe`); letters that do not
  decompose are spelled as in ASCII_SPELLING (`ł` -> `l`, `ß` -> `ss`, `ø` -> `o`, `æ` -> `ae`);
  any other letter or digit becomes `u` and its code point in hex (`李` -> `u674e`). A name
  with a space, a slash, a control character or other punctuation is refused.
- A student and chapter claimed from more than one place -- two folders, or two names that map
  to one id (`zoë` and `zoe`) -- is a clash: none of its files is collected and an existing
  submitted/ copy is left alone, until the instructor removes the wrong files from the export
  or names the one to collect with `--take FILE` (its path in the export, as the report writes
  it; repeat the option for several). Resubmissions in one place are not a clash.
- The timestamp.txt of nbgrader's layout is kept only if nbgrader can read it later: a regular
  file of ASCII text, at most 1 KiB, that `nbgrader.utils.parse_utc` parses without a warning.
  Otherwise it is reported and the submission is collected without a timestamp.
"""

from __future__ import annotations

import argparse
import errno
import lzma
import os
import re
import shutil
import stat
import sys
import tempfile
import unicodedata
import warnings
import zipfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dateutil.parser import UnknownTimezoneWarning
from nbgrader.utils import parse_utc

from instructor.course import Course

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # always used with fullmatch
ID_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
MAX_ID_LENGTH = 128  # nbgrader's Student.id column
ASCII_SPELLING = {"ł": "l", "Ł": "L", "ß": "ss", "ẞ": "SS", "ø": "o", "Ø": "O", "æ": "ae",
                  "Æ": "AE", "œ": "oe", "Œ": "OE", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D",
                  "þ": "th", "Þ": "Th", "ħ": "h", "Ħ": "H", "ı": "i"}
TIMESTAMP_LIMIT = 1024  # bytes; nbgrader writes about 30
FILE_KINDS = {stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket",
              stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}

Key = tuple[str, str]  # (student id, chapter)


@dataclass
class Found:
    """A notebook of the export matched to a student and a chapter."""

    student: str  # the id it is collected under
    chapter: str
    path: Path  # where it lies in the (unpacked) export
    relative: Path  # its path in the export, as the report and --take write it
    original: str  # the student name as the export spells it
    rank: tuple = ()  # (resubmission number, mtime): the highest wins within one place
    layout: bool = False  # nbgrader's layout: the timestamp.txt beside it belongs to it

    @property
    def place(self) -> tuple[Path, str]:
        """Files from one place are one student's resubmissions; from two places, a clash."""
        return self.relative.parent, self.original


@dataclass
class Report:
    """What one run did, for the lines it prints: submissions by student/chapter, files by path."""

    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    mapped: list[str] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)
    timestamps: list[str] = field(default_factory=list)
    clashes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        total = len(self.new) + len(self.changed) + len(self.unchanged)
        out = [f"collected {total} submission(s): {len(self.new)} new, "
               f"{len(self.changed)} changed, {len(self.unchanged)} unchanged"]
        out += [f"  older resubmission ignored: {item}" for item in self.replaced]
        out += [f"  student id mapped: {item}" for item in self.mapped]
        out += [f"  {item}" for item in self.taken]
        out += [f"  timestamp ignored, collected without one: {item}" for item in self.timestamps]
        if self.unmatched:
            out.append(f"{len(self.unmatched)} file(s) could not be matched:")
            out += [f"  {item}" for item in self.unmatched]
        if self.clashes:
            out.append(f"{len(self.clashes)} submission(s) claimed from more than one place, "
                       "not collected (submitted/ left as it was): remove the wrong files from "
                       "the export, or name the one to collect with --take FILE")
            out += [f"  {item}" for item in self.clashes]
        return out


def shown(text: object) -> str:
    """`text` for the report, unprintable characters escaped: a file name cannot fake a line."""
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in str(text))


def student_id(name: str) -> str:
    """The id a student name from the export is collected under; ValueError says why it has none.

    See the module docstring for the mapping of letters outside ASCII.
    """
    for char in name:
        if not _spellable(char):
            raise ValueError(f"'{shown(name)}' is not a valid student id "
                             f"({_described(char)} is not allowed)")
    spelled = "".join(_ascii_spelling(char) for char in name)
    if not STUDENT_ID.fullmatch(spelled):
        raise ValueError(f"'{shown(name)}' is not a valid student id "
                         "(it must start with a letter or digit)")
    if len(spelled) > MAX_ID_LENGTH:
        raise ValueError(f"'{shown(name)}' is not a valid student id "
                         f"(longer than {MAX_ID_LENGTH} characters)")
    return spelled


def _spellable(char: str) -> bool:
    """An id character, or a letter, digit or accent outside ASCII (spelled in ASCII)."""
    return char in ID_CHARACTERS or (not char.isascii() and unicodedata.category(char)[0] in "LMN")


def _described(char: str) -> str:
    if char == " ":
        return "a space"
    return f"'{char}'" if char.isprintable() else f"U+{ord(char):04X}"


def _ascii_spelling(char: str) -> str:
    """One character of an id in ASCII: itself, its NFKD letters without accents, or u+hex."""
    if char in ID_CHARACTERS:
        return char
    letters = "".join(ASCII_SPELLING.get(part, part) for part in unicodedata.normalize("NFKD", char)
                      if not unicodedata.category(part).startswith("M"))
    return letters if all(c in ID_CHARACTERS for c in letters) else f"u{ord(char):04x}"


def match(path: Path, relative: Path, chapters: list[str]) -> Found | str:
    """The (student, chapter) of one file, or why it cannot be matched."""
    if path.suffix != ".ipynb":
        return "not a notebook (.ipynb)"
    parts = relative.parts
    mtime = os.lstat(path).st_mtime
    if len(parts) >= 3 and parts[-2] in chapters and path.stem == parts[-2]:
        original = parts[-3]  # nbgrader layout: STUDENT/CHAPTER/CHAPTER.ipynb
        try:
            student = student_id(original)
        except ValueError as error:
            return f"student folder name: {error}"
        return Found(student, parts[-2], path, relative, original, (mtime,), layout=True)
    for chapter in sorted(chapters, key=len, reverse=True):
        head, sep, tail = path.stem.partition(chapter)
        if not sep:
            continue
        original = head.rstrip("_-. ")
        resubmission = re.fullmatch(r"[-_ ]?(?:v|\()?(\d*)\)?", tail)
        if not original:
            return f"no student id before the chapter name '{chapter}'"
        try:
            student = student_id(original)
        except ValueError as error:
            return str(error)
        if resubmission is None:
            return f"unexpected text '{shown(tail)}' after the chapter name"
        number = int(resubmission.group(1) or 0)
        return Found(student, chapter, path, relative, original, (number, mtime))
    return f"no chapter name in the file name (chapters: {', '.join(chapters)})"


def collect(source: Path, course: Course, take: Iterable[str] = ()) -> Report:
    """Copy the submissions in `source` (folder or zip) into the course; report what happened.

    `take`: paths in the export (as the report writes them) of the files to collect where a
    student and chapter is claimed from more than one place.
    """
    chapters = course.chapters()
    report = Report()
    with tempfile.TemporaryDirectory(prefix="collect-") as temporary:
        folder, report.unmatched = _unpacked(source, Path(temporary))
        claims: dict[Key, list[Found]] = defaultdict(list)
        for relative, refusal in sorted(_entries(folder), key=lambda entry: entry[0]):
            if _is_layout_timestamp(relative, chapters):
                continue  # read with its notebook
            found = refusal or match(folder / relative, relative, chapters)
            if isinstance(found, str):
                report.unmatched.append(f"{shown(relative)}: {found}")
                continue
            claims[(found.student, found.chapter)].append(found)
        report.mapped = sorted({f"'{shown(found.original)}' -> '{found.student}'"
                                for found in _all(claims) if found.original != found.student})
        chosen = _choose(claims, {Path(path) for path in take}, report)
        for (student, chapter), found in sorted(chosen.items()):
            _store(found, course.submitted(student, chapter), report)
    return report


def _all(claims: dict[Key, list[Found]]) -> Iterator[Found]:
    return (found for candidates in claims.values() for found in candidates)


def _choose(claims: dict[Key, list[Found]], take: set[Path], report: Report) -> dict[Key, Found]:
    """The file to collect for each student and chapter: the one taken, else the latest
    resubmission of the only place claiming it; a clash (several places) collects nothing."""
    chosen: dict[Key, Found] = {}
    for key, candidates in sorted(claims.items()):
        name = f"{key[0]}/{key[1]}"
        taken = [found for found in candidates if found.relative in take]
        others = ", ".join(shown(found.relative) for found in candidates if found not in taken)
        if len(taken) == 1:
            chosen[key] = taken[0]
            report.taken.append(f"taken with --take: {shown(taken[0].relative)} for {name}"
                                + (f" (not collected: {others})" if others else ""))
        elif len(taken) > 1 or len({found.place for found in candidates}) > 1:
            report.clashes.append(f"{name}: " + ", ".join(shown(f.relative) for f in candidates))
        else:
            latest, *older = sorted(candidates, key=lambda found: found.rank, reverse=True)
            chosen[key] = latest
            report.replaced += [shown(found.relative) for found in older]
    matched = {found.relative for found in _all(claims)}
    report.taken += [f"--take {shown(path)}: no matched notebook has this path in the export "
                     "(ignored)" for path in sorted(take - matched)]
    return chosen


def _entries(folder: Path) -> Iterator[tuple[Path, str | None]]:
    """Every entry below `folder` that is not a folder to look into, relative to `folder`, with
    why it is refused (None: a regular file). Nothing is followed; hidden entries are skipped."""
    pending = [Path()]  # a list, not recursion: an export may nest deeper than Python recurses
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(folder / directory))
        except OSError as error:
            yield directory, f"folder could not be read ({error.strerror})"
            continue
        for entry in entries:
            if _hidden(entry.name):
                continue
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode) and not entry.name.endswith(".ipynb"):
                pending.append(directory / entry.name)
            else:
                yield directory / entry.name, _refusal(mode)


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _refusal(mode: int) -> str | None:
    """Why an entry with this (lstat) mode is not collected; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link (not followed)"
    if stat.S_ISDIR(mode):
        return "a folder, not a notebook file"
    return f"not a regular file ({FILE_KINDS.get(stat.S_IFMT(mode), 'of an unknown type')})"


def _is_layout_timestamp(relative: Path, chapters: list[str]) -> bool:
    parts = relative.parts
    return len(parts) >= 3 and parts[-1] == "timestamp.txt" and parts[-2] in chapters


def _unpacked(source: Path, temporary: Path) -> tuple[Path, list[str]]:
    """The export as a folder (a zip is extracted into `temporary`) and the zip entries refused."""
    if source.is_dir():
        return source, []
    if not zipfile.is_zipfile(source):
        raise ValueError(f"{source} is neither a folder nor a zip file")
    refused = []
    try:
        with zipfile.ZipFile(source) as archive:
            members = [member for member in archive.infolist()
                       if not member.filename.endswith("/") and not _hidden_in_zip(member)]
            names = Counter(PurePosixPath(member.filename) for member in members)
            for member in members:
                name = PurePosixPath(member.filename)
                refusal = _zip_refusal(member, names[name])
                if refusal is None:
                    refusal = _extract(archive, member, temporary / name)
                if refusal:
                    refused.append(f"{shown(member.filename)}: {refusal}")
    except zipfile.BadZipFile as error:
        raise ValueError(f"{source} is not a readable zip file ({error})") from error
    return temporary, refused


def _hidden_in_zip(member: zipfile.ZipInfo) -> bool:
    return any(_hidden(part) for part in PurePosixPath(member.filename).parts if part != "..")


def _zip_refusal(member: zipfile.ZipInfo, count: int) -> str | None:
    """Why a zip entry (not a folder) is not extracted; None when it may be."""
    name = PurePosixPath(member.filename)
    if name.is_absolute() or ".." in name.parts:
        return "its path leads out of the export (not extracted)"
    mode = member.external_attr >> 16
    refusal = _refusal(mode) if stat.S_IFMT(mode) else None  # no type bits: a plain file
    if refusal:
        return f"{refusal} in the zip (not extracted)"
    if count > 1:
        return f"{count} zip entries have this name (none extracted)"
    return None


def _extract(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path) -> str | None:
    """Write one zip entry to `target`; if that fails, why (and nothing is left there)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(member) as data, open(target, "xb") as out:
            try:
                shutil.copyfileobj(data, out)
            except Exception:
                target.unlink()  # a truncated notebook must not be collected
                raise
    except (OSError, ValueError, RuntimeError, EOFError, NotImplementedError, zipfile.BadZipFile,
            zlib.error, lzma.LZMAError) as error:  # broken, encrypted or odd entries
        return f"could not be extracted ({error})"
    return None


def _read_regular(path: Path, limit: int | None = None) -> bytes:
    """The bytes of `path` (at most `limit` + 1), or OSError if it is not a regular file: the last
    check before reading, so a file swapped for a link after the scan is not followed either."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return file.read() if limit is None else file.read(limit + 1)


def _timestamp(found: Found) -> tuple[str | None, str | None]:
    """The text of the timestamp.txt that belongs to `found` and why it is refused, if it is."""
    if not found.layout:
        return None, None
    path = found.path.parent / "timestamp.txt"
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None, None
    refusal = _refusal(mode)
    if refusal:
        return None, refusal
    try:
        raw = _read_regular(path, TIMESTAMP_LIMIT)
    except OSError as error:
        return None, f"could not be read ({error.strerror})"
    return _valid_timestamp(raw)


def _valid_timestamp(raw: bytes) -> tuple[str | None, str | None]:
    """`raw` as a timestamp that nbgrader's gradebook will accept, or why it is not one."""
    if len(raw) > TIMESTAMP_LIMIT:
        return None, f"larger than {TIMESTAMP_LIMIT} bytes"
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return None, "not ASCII text"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UnknownTimezoneWarning)  # a zone dateutil would drop
            parse_utc(text)
    except (ValueError, OverflowError, UnknownTimezoneWarning):
        return None, f"'{shown(text)}' is not a date nbgrader can read"
    return text, None


def _store(found: Found, destination: Path, report: Report) -> None:
    """Copy one submission (and its timestamp, or none) to `destination` in submitted/."""
    name = f"{found.student}/{found.chapter}"
    try:
        raw = _read_regular(found.path)
    except OSError as error:
        report.unmatched.append(f"{shown(found.relative)}: could not be read ({error.strerror})")
        return
    timestamp, refusal = _timestamp(found)
    if refusal:
        report.timestamps.append(f"{shown(found.relative.parent / 'timestamp.txt')}: {refusal}")
    existed = destination.exists()
    if existed and destination.read_bytes() == raw:
        report.unchanged.append(name)
    else:
        (report.changed if existed else report.new).append(name)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(raw)
    stored = destination.parent / "timestamp.txt"  # the export's valid one or none, never stale
    if timestamp is None:
        stored.unlink(missing_ok=True)
    else:
        stored.write_text(timestamp, encoding="ascii")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", help="folder or zip of submitted notebooks")
    parser.add_argument("--course", default=".", help="course folder (default: here)")
    parser.add_argument("--take", action="append", default=[], metavar="FILE",
                        help="where a submission is claimed from more than one place: the file "
                             "to collect, its path in the export as the report writes it "
                             "(repeat for several)")
    args = parser.parse_args(argv)
    source = Path(args.submissions)
    if not source.exists():
        sys.exit(f"{source} does not exist")
    try:
        report = collect(source, Course(Path(args.course).resolve()), args.take)
    except ValueError as error:
        sys.exit(str(error))
    print("\n".join(report.lines()))


if __name__ == "__main__":
    main()
