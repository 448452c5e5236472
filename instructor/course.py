"""The course folder as nbgrader lays it out, and the per-chapter grading templates.

    COURSE/solutions/chNN/chNN.ipynb             instructor notebooks (nbgrader source)
    COURSE/submitted/STUDENT/chNN/chNN.ipynb     collected submissions (make collect)
    COURSE/autograded/STUDENT/chNN/chNN.ipynb    graded notebooks (make autograde)
    COURSE/feedback/STUDENT/chNN/chNN.html       feedback (make feedback)
    COURSE/gradebook.db                          nbgrader's gradebook (or DB_URL)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader.preprocessors import OverwriteCells

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Course:
    """An nbgrader course folder and its gradebook."""

    root: Path
    db_url: str = ""

    @property
    def gradebook_url(self) -> str:
        return self.db_url or f"sqlite:///{self.root / 'gradebook.db'}"

    def chapters(self) -> list[str]:
        return sorted(p.name for p in (self.root / "solutions").glob("ch*") if p.is_dir())

    def submitted(self, student: str, chapter: str) -> Path:
        return self.root / "submitted" / student / chapter / f"{chapter}.ipynb"

    def autograded(self, student: str, chapter: str) -> Path:
        return self.root / "autograded" / student / chapter / f"{chapter}.ipynb"

    def feedback(self, student: str, chapter: str) -> Path:
        return self.root / "feedback" / student / chapter / f"{chapter}.html"

    def submissions(self) -> list[tuple[str, str]]:
        """(student, chapter) for every collected submission of a known chapter."""
        known = set(self.chapters())
        found = []
        for path in sorted((self.root / "submitted").glob("*/*/*.ipynb")):
            student, chapter = path.parent.parent.name, path.parent.name
            if chapter in known and path.stem == chapter:
                found.append((student, chapter))
        return found


def nbgrader(course: Course, *args: str) -> subprocess.CompletedProcess:
    """Run nbgrader on `course` with the venv's bin/ first on PATH (nbgrader starts alembic)."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    config = course.root / "nbgrader_config.py"
    if not config.exists():
        config.write_text((ROOT / "nbgrader_config.py").read_text())
    result = subprocess.run([str(bin_dir / "nbgrader"), *args,
                             f"--CourseDirectory.root={course.root}",
                             f"--CourseDirectory.db_url={course.gradebook_url}"],
                            cwd=course.root, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@dataclass(frozen=True)
class Templates:
    """A chapter's student notebook as released, and the same with its hidden tests put back."""

    release: str
    grading: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.grading.encode()).hexdigest()


def chapter_templates(course: Course, chapter: str) -> Templates:
    """Register `chapter` in the gradebook (nbgrader generate_assignment) and build its templates.

    The student notebook is generated into a temporary folder, so assignments/ is left alone;
    nbgrader's OverwriteCells then restores the test cells (hidden tests included) from the
    gradebook, exactly as `nbgrader autograde` would.
    """
    with tempfile.TemporaryDirectory(prefix="release-") as folder:
        nbgrader(course, "generate_assignment", chapter, "--force",
                 f"--CourseDirectory.release_directory={folder}")
        release = nbformat.read(Path(folder) / chapter / f"{chapter}.ipynb", as_version=4)
    grading = nbformat.reads(nbformat.writes(release), as_version=4)
    resources = {"nbgrader": {"notebook": chapter, "assignment": chapter,
                              "db_url": course.gradebook_url}}
    grading, _ = OverwriteCells().preprocess(grading, resources)
    return Templates(nbformat.writes(release), nbformat.writes(grading))
