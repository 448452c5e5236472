"""`make grades` without kernels: a gradebook built with nbgrader's API, then the CSV and the
summary (table and plot) checked against figures worked out by hand.

The class: alice, bob, carol, dave and erin.
- ch01_basics, 11 points: test_add (2), test_mul (3), explain (5, written, marked by hand),
  test_easy (1). carol's written answer is not marked yet; erin did not submit.

      student  test_add  test_mul  explain     test_easy  score
      alice    2         3         4 (manual)  1          10 / 11
      bob      0         3         1 (manual)  1           5 / 11
      carol    1         0         unmarked    1          needs manual grading
      dave     0         0         5 (manual)  1           6 / 11

  Fully graded: alice, bob, dave: mean 7/11, median 6/11, min 5/11, max 10/11.
  Tests: test_add (1 + 0 + 0.5 + 0) / 4 = 0.375 with 2 zeros of 4; test_mul (1 + 1 + 0 + 0) / 4
  = 0.5, 2 of 4; explain (0.8 + 0.2 + 1) / 3 = 2/3, 0 of 3; test_easy 1.0 (nobody lost a point:
  not listed).
- ch02_more, 4 points: test_q (4). alice 4, bob 1: mean 0.625, median 0.625, min 0.25, max 1;
  test_q 0.625 with 0 zeros of 2. Three students missing.
- ch03_unsubmitted, 2 points: nobody submitted; no score figure, no hardest test.
"""

from __future__ import annotations

import csv

import pytest
from nbgrader.api import Gradebook
from PIL import Image

from instructor import grades
from instructor.course import Course

# nbgrader's own add_submission, on SQLAlchemy 2, warns about every row it creates.
pytestmark = pytest.mark.filterwarnings("ignore:Object of type:sqlalchemy.exc.SAWarning")

STUDENTS = ("alice", "bob", "carol", "dave", "erin")
CELLS = {
    "ch01_basics": {"test_add": 2, "test_mul": 3, "explain": 5, "test_easy": 1},
    "ch02_more": {"test_q": 4},
    "ch03_unsubmitted": {"test_r": 2},
}
WRITTEN = {"explain"}
# Points per student and chapter; None: a written answer not marked yet.
POINTS = {
    "ch01_basics": {
        "alice": {"test_add": 2, "test_mul": 3, "explain": 4, "test_easy": 1},
        "bob": {"test_add": 0, "test_mul": 3, "explain": 1, "test_easy": 1},
        "carol": {"test_add": 1, "test_mul": 0, "explain": None, "test_easy": 1},
        "dave": {"test_add": 0, "test_mul": 0, "explain": 5, "test_easy": 1},
    },
    "ch02_more": {"alice": {"test_q": 4}, "bob": {"test_q": 1}},
}


def build_gradebook(course: Course) -> None:
    """The class of the module docstring, stored as `make autograde` and formgrader store it."""
    with Gradebook(course.gradebook_url) as gradebook:
        for student in STUDENTS:
            gradebook.add_student(student)
        for chapter, cells in CELLS.items():
            gradebook.add_assignment(chapter)
            gradebook.add_notebook(chapter, chapter)
            for cell, points in cells.items():
                gradebook.add_grade_cell(cell, chapter, chapter, max_score=points,
                                         cell_type="markdown" if cell in WRITTEN else "code")
        for chapter, students in POINTS.items():
            for student, points in students.items():
                gradebook.add_submission(chapter, student)
                for cell, score in points.items():
                    grade = gradebook.find_grade(cell, chapter, chapter, student)
                    if score is None:
                        continue  # nbgrader's default: no score, needs manual grading
                    if cell in WRITTEN:
                        grade.manual_score = score
                    else:
                        grade.auto_score = score
                    grade.needs_manual_grade = False
        gradebook.db.commit()


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Course:
    """The class's course folder; the tests only read its gradebook."""
    course = Course(tmp_path_factory.mktemp("grades"))
    build_gradebook(course)
    return course


@pytest.fixture(scope="module")
def summaries(course) -> dict[str, grades.ChapterSummary]:
    return {summary.chapter: summary for summary in grades.summarize(course)}


def table_rows(markdown: str) -> list[list[str]]:
    """The body rows of every markdown table in `markdown`, as lists of stripped cells."""
    rows = []
    for line in markdown.splitlines():
        if line.startswith("| ") and not line.startswith("| chapter "):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_csv_keeps_its_columns_and_statuses(course, tmp_path):
    path = tmp_path / "grades.csv"
    assert grades.write(course, path) == len(STUDENTS) * len(CELLS)
    with open(path) as file:
        reader = csv.DictReader(file)
        assert tuple(reader.fieldnames) == grades.COLUMNS
        by_key = {(row["student_id"], row["chapter"]): row for row in reader}
    assert by_key["alice", "ch01_basics"] == {
        "student_id": "alice", "chapter": "ch01_basics", "score": "10", "max_score": "11",
        "status": "graded"}
    assert by_key["carol", "ch01_basics"]["status"] == "needs manual grading"
    assert by_key["carol", "ch01_basics"]["score"] == "2"
    assert by_key["erin", "ch01_basics"] == {
        "student_id": "erin", "chapter": "ch01_basics", "score": "0", "max_score": "11",
        "status": "missing"}
    assert by_key["bob", "ch02_more"]["score"] == "1"


def test_counts_per_chapter(summaries):
    counts = {chapter: (s.students, s.submitted, s.missing, s.needs_manual_grading)
              for chapter, s in summaries.items()}
    assert counts == {"ch01_basics": (5, 4, 1, 1), "ch02_more": (5, 2, 3, 0),
                      "ch03_unsubmitted": (5, 0, 5, 0)}


def test_score_figures_leave_out_missing_and_unmarked_submissions(summaries):
    ch01, ch02 = summaries["ch01_basics"], summaries["ch02_more"]
    assert sorted(ch01.fractions) == pytest.approx([5 / 11, 6 / 11, 10 / 11])
    assert (ch01.mean, ch01.median, ch01.minimum, ch01.maximum) == pytest.approx(
        (7 / 11, 6 / 11, 5 / 11, 10 / 11))
    assert (ch02.mean, ch02.median, ch02.minimum, ch02.maximum) == pytest.approx(
        (0.625, 0.625, 0.25, 1.0))
    ch03 = summaries["ch03_unsubmitted"]
    assert (ch03.mean, ch03.median, ch03.minimum, ch03.maximum) == (None, None, None, None)


def test_hardest_tests_in_order_with_their_zeros(summaries):
    ch01 = summaries["ch01_basics"].hardest
    assert [(t.name, t.zeros, t.scored) for t in ch01] == [
        ("test_add", 2, 4), ("test_mul", 2, 4), ("explain", 0, 3)]
    assert [t.mean_fraction for t in ch01] == pytest.approx([0.375, 0.5, 2 / 3])
    ch02 = summaries["ch02_more"].hardest
    assert [(t.name, t.zeros, t.scored) for t in ch02] == [("test_q", 0, 2)]
    assert ch02[0].mean_fraction == pytest.approx(0.625)
    assert summaries["ch03_unsubmitted"].hardest == ()


def test_hardest_tests_keep_only_the_lowest(course):
    with Gradebook(course.gradebook_url) as gradebook:
        every_grade = [grade for submission in gradebook.assignment_submissions("ch01_basics")
                       for notebook in submission.notebooks for grade in notebook.grades]
        assert [t.name for t in grades.hardest_tests(every_grade, count=2)] == [
            "test_add", "test_mul"]


def test_markdown_table_shows_every_figure(summaries):
    markdown = grades.summary_markdown(list(summaries.values()))
    rows = table_rows(markdown)
    assert rows[:3] == [
        ["ch01_basics", "5", "4", "1", "1", "63.6%", "54.5%", "45.5%", "90.9%"],
        ["ch02_more", "5", "2", "3", "0", "62.5%", "62.5%", "25.0%", "100.0%"],
        ["ch03_unsubmitted", "5", "0", "5", "0", "-", "-", "-", "-"],
    ]
    assert rows[3:] == [
        ["ch01_basics", "test_add", "37.5%", "2 of 4"],
        ["ch01_basics", "test_mul", "50.0%", "2 of 4"],
        ["ch01_basics", "explain", "66.7%", "0 of 3"],
        ["ch02_more", "test_q", "62.5%", "0 of 2"],
    ]
    chapter_table = markdown.split("## Hardest")[0]
    widths = {len(line) for line in chapter_table.splitlines() if line.startswith("|")}
    assert len(widths) == 1, "the chapter table's columns do not line up"


def test_main_writes_csv_summary_and_plot(course, tmp_path, capsys):
    out = tmp_path / "grades.csv"  # not in the course folder: the summary goes beside the CSV
    grades.main(["--course", str(course.root), "--out", str(out)])
    printed = capsys.readouterr().out
    table = (tmp_path / "grades-summary.md").read_text()
    assert table in printed
    assert "| ch01_basics " in table
    assert out.exists()
    with Image.open(tmp_path / "grades-summary.png") as image:
        image.verify()
        assert image.format == "PNG"
        width, height = image.size
    assert width >= 3 * 400 and height >= 300, f"plot is {width}x{height} for three chapters"


def test_plot_of_an_empty_gradebook_is_still_an_image(tmp_path):
    path = tmp_path / "empty.png"
    grades.plot_summary([], path)
    with Image.open(path) as image:
        image.verify()
        assert image.format == "PNG"


def test_summary_paths_are_named_after_the_csv(tmp_path):
    assert grades.summary_paths(tmp_path / "grades.csv") == (
        tmp_path / "grades-summary.md", tmp_path / "grades-summary.png")
