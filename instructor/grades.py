"""Export grades for an LMS, and a per-chapter summary of how the class did.

    python -m instructor.grades [--course DIR] [--db-url URL] [--out grades.csv]

The CSV (`--out`) has one row per student and chapter. Columns: student_id, chapter, score,
max_score, status. Status is `graded`, `needs manual grading` (a free-text answer still to be
marked in formgrader) or `missing` (no submission: score 0). Every student of the gradebook gets a
row for every chapter in it.

Next to it go the summary an instructor reads after a deadline, named after the CSV
(`grades-summary.md` and `grades-summary.png` for `grades.csv`); the table is also printed:
- per chapter: the students, submissions, missing submissions and submissions still needing
  manual grading; the mean, median, lowest and highest score as a fraction of the chapter's
  points;
- per chapter, the tests (grade cells) with the lowest mean fraction of their points, with how
  many submissions scored 0 on them; a test on which nobody lost a point is never listed;
- the plot: one histogram of the score fractions per chapter.

What the figures count. A missing submission is counted as missing and left out of every score
figure: the 0 in the CSV is not a result. A submission that still needs manual grading is counted
as such and left out of the score figures (its score lacks the unmarked answers); in the test
figures its scored cells count and its unmarked answers do not. A chapter is one notebook (the
course's `chNN/chNN.ipynb` layout), so a test is named by its grade id.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from nbgrader.api import Assignment, Grade, Gradebook, MissingEntry

from instructor.course import Course

COLUMNS = ("student_id", "chapter", "score", "max_score", "status")
HARDEST_TESTS = 3
PLOT_COLUMNS = 3
HISTOGRAM_BINS = np.linspace(0, 100, 11)  # score in % of the chapter's points, 10 % wide


def rows(course: Course) -> list[dict[str, str]]:
    """The CSV rows: every student of the gradebook for every chapter in it, in name order."""
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
    """Write the CSV to `path`; return its number of rows."""
    table = rows(course)
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(table)
    return len(table)


@dataclass(frozen=True)
class CellResult:
    """How the class did on one test (grade cell) of a chapter."""

    name: str
    mean_fraction: float  # mean of score / points over the submissions in which it is scored
    zeros: int  # submissions that scored 0 on it
    scored: int  # submissions in which it is scored (an unmarked written answer is not)


@dataclass(frozen=True)
class ChapterSummary:
    """How the class did on one chapter (see the module docstring for what counts)."""

    chapter: str
    students: int
    submitted: int
    needs_manual_grading: int
    fractions: tuple[float, ...]  # score / max_score of each fully graded submission
    hardest: tuple[CellResult, ...]

    @property
    def missing(self) -> int:
        return self.students - self.submitted

    @property
    def mean(self) -> float | None:
        return self._of_fractions(statistics.fmean)

    @property
    def median(self) -> float | None:
        return self._of_fractions(statistics.median)

    @property
    def minimum(self) -> float | None:
        return self._of_fractions(min)

    @property
    def maximum(self) -> float | None:
        return self._of_fractions(max)

    def _of_fractions(self, statistic: Callable[[Sequence[float]], float]) -> float | None:
        """`statistic` of the score fractions; None while no submission is fully graded."""
        return statistic(self.fractions) if self.fractions else None


def summarize(course: Course) -> list[ChapterSummary]:
    """One summary per chapter of the gradebook, in name order."""
    with Gradebook(course.gradebook_url) as gradebook:
        students = len(gradebook.students)
        assignments = sorted(gradebook.assignments, key=lambda a: a.name)
        return [chapter_summary(assignment, students) for assignment in assignments]


def chapter_summary(assignment: Assignment, students: int) -> ChapterSummary:
    """The summary of one chapter (an nbgrader assignment) with `students` in the class."""
    submissions = assignment.submissions
    graded = [submission for submission in submissions if not submission.needs_manual_grade]
    fractions = (tuple(submission.score / assignment.max_score for submission in graded)
                 if assignment.max_score else ())
    cell_grades = [grade for submission in submissions for notebook in submission.notebooks
                   for grade in notebook.grades]
    return ChapterSummary(assignment.name, students, len(submissions),
                          len(submissions) - len(graded), fractions, hardest_tests(cell_grades))


def hardest_tests(grades: Iterable[Grade], count: int = HARDEST_TESTS) -> tuple[CellResult, ...]:
    """The `count` tests with the lowest mean fraction of their points (more zeros first on a
    tie, then by name); tests without a lost point and unmarked answers are left out."""
    fractions: dict[str, list[float]] = defaultdict(list)
    for grade in grades:
        if not grade.needs_manual_grade and grade.max_score:
            fractions[grade.name].append(grade.score / grade.max_score)
    results = [CellResult(name, statistics.fmean(values), sum(value == 0 for value in values),
                          len(values))
               for name, values in fractions.items()]
    results = [result for result in results if result.mean_fraction < 1]
    results.sort(key=lambda result: (result.mean_fraction, -result.zeros, result.name))
    return tuple(results[:count])


def percent(fraction: float | None) -> str:
    """A fraction as a percentage with one decimal ("62.5%"), or "-" when there is none."""
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


def markdown_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    """The lines of a markdown table whose columns are padded to line up in a terminal too."""
    widths = [max(len(row[column]) for row in (header, *body)) for column in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width)
                                 for cell, width in zip(cells, widths, strict=True)) + " |"

    return [line(header), "|" + "|".join("-" * (width + 2) for width in widths) + "|",
            *(line(row) for row in body)]


def summary_markdown(summaries: Sequence[ChapterSummary]) -> str:
    """The summary as markdown: a table of the chapters, then a table of their hardest tests."""
    chapters = markdown_table(
        ("chapter", "students", "submitted", "missing", "needs manual grading",
         "mean", "median", "min", "max"),
        [(s.chapter, str(s.students), str(s.submitted), str(s.missing),
          str(s.needs_manual_grading), percent(s.mean), percent(s.median), percent(s.minimum),
          percent(s.maximum)) for s in summaries])
    tests = markdown_table(
        ("chapter", "test", "mean score", "scored 0"),
        [(s.chapter, test.name, percent(test.mean_fraction), f"{test.zeros} of {test.scored}")
         for s in summaries for test in s.hardest])
    return "\n".join([
        "# Grades summary", "",
        "Scores are fractions of each chapter's points, over the fully graded submissions:",
        "missing ones and those still needing manual grading are left out.", "",
        *chapters, "",
        f"## Hardest tests (up to {HARDEST_TESTS} per chapter)", "",
        *tests, ""])


def plot_summary(summaries: Sequence[ChapterSummary], path: Path) -> None:
    """Save one histogram of the score fractions per chapter (small multiples) to `path`."""
    panels = max(len(summaries), 1)
    columns = min(panels, PLOT_COLUMNS)
    grid_rows = math.ceil(panels / columns)
    figure = Figure(figsize=(4.2 * columns, 3.2 * grid_rows + 0.6), layout="constrained")
    figure.suptitle("Scores per chapter (fully graded submissions)")
    axes = figure.subplots(grid_rows, columns, squeeze=False).ravel()
    for index, ax in enumerate(axes):
        if index < len(summaries):
            draw_histogram(ax, summaries[index])
        else:
            ax.set_axis_off()
    if not summaries:
        axes[0].text(0.5, 0.5, "no chapters in the gradebook", ha="center", va="center")
    figure.savefig(path, dpi=100)


def draw_histogram(ax: Axes, summary: ChapterSummary) -> None:
    """One chapter's panel: how many submissions scored in each 10 % band, and the mean."""
    ax.set_title(f"{summary.chapter} (N={len(summary.fractions)})", fontsize=10)
    ax.set_xlim(0, 100)
    ax.set_xlabel("score (% of the chapter's points)")
    ax.set_ylabel("submissions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if summary.mean is None:
        ax.text(0.5, 0.5, "no fully graded submission", ha="center", va="center",
                transform=ax.transAxes)
        return
    scores = np.clip(np.array(summary.fractions) * 100, 0, 100)  # extra credit can pass 100 %
    ax.hist(scores, bins=HISTOGRAM_BINS, color="tab:blue", edgecolor="white")
    ax.axvline(100 * summary.mean, color="black", linestyle="--",
               label=f"mean {percent(summary.mean)}")
    ax.legend(loc="upper left", fontsize=8)


def summary_paths(csv_path: Path) -> tuple[Path, Path]:
    """Where the summary table and plot of the CSV `csv_path` go: beside it, named after it."""
    return (csv_path.with_name(f"{csv_path.stem}-summary.md"),
            csv_path.with_name(f"{csv_path.stem}-summary.png"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", default=".")
    parser.add_argument("--db-url", default=os.environ.get("DB_URL", ""))
    parser.add_argument("--out", default="grades.csv")
    args = parser.parse_args(argv)
    course = Course(Path(args.course).resolve(), args.db_url)
    out = Path(args.out)
    count = write(course, out)
    summaries = summarize(course)
    table_path, plot_path = summary_paths(out)
    markdown = summary_markdown(summaries)
    table_path.write_text(markdown)
    plot_summary(summaries, plot_path)
    print(markdown)
    print(f"wrote {count} row(s) to {out}, the summary to {table_path} and {plot_path}")


if __name__ == "__main__":
    main()
