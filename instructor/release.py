"""Build the student bundle: a folder and a zip with only what students may see.

    python -m instructor.release --chapters "ch05_cnn ch06_architectures" [--open "..."]
                                 [--out build]

Released: the named chapters and every earlier one (by chapter number). Open: the chapters still
being graded -- by default the named ones, or --open (--open none: no chapter). Closed: released
and not open.
The bundle holds the student notebooks of the released chapters (from assignments/), course_utils
with the bodies of every function @graded_in a chapter that is not closed (open or not yet
released) replaced by NotImplementedError, the students' README (README.md without its
instructor section) and the environment files. A leak scan then fails the release if any
solution line or hidden-test line of a chapter that is not closed is in the bundle, or if the
bundle's course_utils still implements a function that such a chapter asks students to write.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

from instructor.course import ROOT
from instructor.leak_scan import Leak, scan
from instructor.strip import graded_functions, strip_source

ENVIRONMENT_FILES = ("environment.yml", "pyproject.toml", "Makefile", ".gitignore")
INSTRUCTOR_SECTIONS = ("## For instructors",)


def chapter_order(chapters: list[str]) -> list[str]:
    return sorted(chapters, key=lambda name: (int(re.match(r"ch(\d+)", name).group(1)), name))


def released_chapters(all_chapters: list[str], named: list[str]) -> list[str]:
    """The named chapters and every earlier one."""
    unknown = sorted(set(named) - set(all_chapters))
    if unknown:
        raise ValueError(f"unknown chapter(s) {unknown}; the chapters are {all_chapters}")
    ordered = chapter_order(all_chapters)
    last = max(ordered.index(name) for name in named)
    return ordered[: last + 1]


def student_readme(text: str) -> str:
    """README.md without its instructor sections."""
    kept, skipping = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("## "):
            skipping = line.strip() in INSTRUCTOR_SECTIONS
        if not skipping:
            kept.append(line)
    return "".join(kept)


def build(named: list[str], open_chapters: list[str] | None, out: Path, root: Path = ROOT) -> Path:
    """Write the bundle folder and its zip under `out`; return the zip. Raise on a leak."""
    all_chapters = chapter_order([p.name for p in (root / "solutions").glob("ch*") if p.is_dir()])
    released = released_chapters(all_chapters, named)
    open_set = set(open_chapters if open_chapters is not None else named)
    closed = set(released) - open_set
    graded = {f.chapter for path in (root / "course_utils").rglob("*.py")
              for f in graded_functions(path.read_text())}
    hidden = (set(all_chapters) | graded) - closed  # open, or not released yet
    name = "course-" + "-".join(chapter_order(named))
    bundle = out / name
    if bundle.exists():
        shutil.rmtree(bundle)
    bundle.mkdir(parents=True)

    for chapter in released:
        source = root / "assignments" / chapter
        if not (source / f"{chapter}.ipynb").exists():
            raise FileNotFoundError(f"assignments/{chapter} is missing: "
                                    "run `make assignments` first")
        shutil.copytree(source, bundle / "assignments" / chapter,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    package = bundle / "course_utils"
    shutil.copytree(root / "course_utils", package,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in sorted(package.rglob("*.py")):
        text, _ = strip_source(path.read_text(), hidden)
        path.write_text(text)
    (bundle / "README.md").write_text(student_readme((root / "README.md").read_text()))
    for filename in ENVIRONMENT_FILES:
        if (root / filename).exists():
            shutil.copy(root / filename, bundle / filename)

    leaks = scan(bundle, root, sorted(hidden), released)
    if leaks:
        raise LeakError(leaks)
    archive = shutil.make_archive(str(out / name), "zip", root_dir=out, base_dir=name)
    return Path(archive)


class LeakError(RuntimeError):
    """The bundle contains something students must not see."""

    def __init__(self, leaks: list[Leak]) -> None:
        lines = "\n".join(f"  {leak}" for leak in leaks[:20])
        more = f"\n  ... and {len(leaks) - 20} more" if len(leaks) > 20 else ""
        super().__init__(f"release stopped: {len(leaks)} leak(s) in the student bundle\n"
                         f"{lines}{more}")
        self.leaks = leaks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", required=True,
                        help='chapters to release, e.g. "ch05_cnn ch06_architectures"')
    parser.add_argument("--open", default=None,
                        help='chapters still being graded (default: --chapters; "none": none)')
    parser.add_argument("--out", default="build", help="output folder (default: build/)")
    args = parser.parse_args(argv)
    named = args.chapters.split()
    if not named:
        sys.exit('name the chapters to release: make release CHAPTERS="ch01_introduction"')
    open_chapters = None if args.open is None else args.open.split()
    if open_chapters == ["none"]:
        open_chapters = []
    try:
        archive = build(named, open_chapters, Path(args.out).resolve())
    except (LeakError, ValueError, FileNotFoundError) as error:
        sys.exit(str(error))
    print(f"student bundle: {archive.with_suffix('')}/ and {archive}")


if __name__ == "__main__":
    main()
