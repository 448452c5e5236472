"""Students' own copies of the notebooks.

`make lab` calls `python -m course_utils.workspace` to copy the student notebooks from
assignments/ into work/. New chapters are added; a file that already exists in work/ is never
overwritten, so regenerating assignments/ or pulling an update of the course cannot lose anyone's
work. When the course's version of a notebook has changed, the student is told where it is.
"""

import filecmp
import shutil
import sys
from pathlib import Path


def sync_workspace(assignments: Path, work: Path) -> tuple[list[Path], list[Path]]:
    """Copy files from `assignments` that `work` lacks.

    Returns:
        added: files newly copied into `work`.
        differing: files kept as they are in `work` although the course's version differs.
    """
    if not assignments.is_dir():
        raise FileNotFoundError(f"{assignments} not found: run this from the course folder")
    added, differing = [], []
    for source in sorted(assignments.rglob("*")):
        if not source.is_file() or ".ipynb_checkpoints" in source.parts:
            continue
        target = work / source.relative_to(assignments)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            added.append(target)
        elif not filecmp.cmp(source, target, shallow=False):
            differing.append(target)
    return added, differing


def main() -> None:
    assignments, work = (Path(arg) for arg in (sys.argv[1:] or ["assignments", "work"]))
    added, differing = sync_workspace(assignments, work)
    for path in added:
        print(f"added {path}")
    for path in differing:
        course_version = assignments / path.relative_to(work)
        print(f"kept your {path} (the course's version is in {course_version})")


if __name__ == "__main__":
    main()
