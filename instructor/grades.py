"""Export grades for an LMS: one CSV row per student and chapter.

    python -m instructor.grades [--course DIR] [--db-url URL] [--out grades.csv]

Columns: student_id, chapter, score, max_score, status. Status is `graded`, `needs manual
grading` (a free-text answer still to be marked in formgrader) or `missing` (no submission:
score 0). Every student of the gradebook gets a row for every chapter in it.
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from instructor.course import Course

COLUMNS = ("student_id", "chapter", "score", "max_score", "status")


def rows(course: Course) -> list[dict[str, str]]:
    out = []
    with Gradebook(course.gradebook_url) as gradebook:
        assignments = sorted(gradebook.assignments, key=lambda a: a.name)
        for student in sorted(gradebook.students, key=lambda s: s.id):
            for assignment in assignments:
                try:
                    submission = gradebook.find_submission(assignment.name, student.id)
                except MissingEntry:
                    score, status = 0.0, "missing"
                else:
                    score = submission.score
                    status = "needs manual grading" if submission.needs_manual_grade else "graded"
                out.append({"student_id": student.id, "chapter": assignment.name,
                            "score": f"{score:g}", "max_score": f"{assignment.max_score:g}",
                            "status": status})
    return out


def write(course: Course, path: Path) -> int:
    table = rows(course)
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(table)
    return len(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", default=".")
    parser.add_argument("--db-url", default=os.environ.get("DB_URL", ""))
    parser.add_argument("--out", default="grades.csv")
    args = parser.parse_args(argv)
    count = write(Course(Path(args.course).resolve(), args.db_url), Path(args.out))
    print(f"wrote {count} row(s) to {args.out}")


if __name__ == "__main__":
    main()
