"""At the end of every run: what each chapter costs, so that a slow notebook or test shows early.

The table adds up, per chapter, the seconds its tests took (set-up, call and tear-down, as the
worker that ran them measured), by kind of test: each solution notebook under nbval, the grading
round trip, the browser, unit tests. A test belongs to a chapter when its id names one (a
parameter such as `ch05_cnn`, or a fixture parametrised by chapter); the rest is the course-wide
row. A test that runs every chapter at once records each one's share as the user property
`chapter_seconds` ({chapter: seconds}); those seconds move from its row to the chapters'. The
seconds are worker seconds: with `-n 2` the run's wall time is about half their sum. The
costliest chapter comes first. Then the slowest tests.
"""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

CHAPTER = re.compile(r"\bch\d\d_[a-z0-9_]+")
KINDS = {"solutions/": "nbval", "test_instructor_round_trip.py": "round trip",
         "browser/": "browser"}
SLOWEST = 12


def _kind(nodeid: str) -> str:
    return next((kind for marker, kind in KINDS.items() if marker in nodeid), "unit & other")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    per_test: dict[str, float] = defaultdict(float)
    for reports in terminalreporter.stats.values():
        for report in reports:
            duration = getattr(report, "duration", None)
            nodeid = getattr(report, "nodeid", "")
            if duration is None or not nodeid:
                continue
            match = CHAPTER.search(nodeid)
            row, kind = match.group(0) if match else "(course-wide)", _kind(nodeid)
            seconds[row][kind] += duration
            for name, shares in getattr(report, "user_properties", ()):
                if name == "chapter_seconds" and report.when == "call":  # once, not per phase
                    for chapter, share in shares.items():
                        seconds[chapter][kind] += share
                        seconds[row][kind] -= share
            per_test[nodeid] += duration
    if not per_test:
        return
    kinds = [*dict.fromkeys(KINDS.values()), "unit & other"]
    write = terminalreporter.write_line
    terminalreporter.section("test cost by chapter (worker seconds)")
    write(f"{'chapter':<30}" + "".join(f"{kind:>14}" for kind in kinds) + f"{'total':>10}")
    for chapter in sorted(seconds, key=lambda c: (c.startswith("("), -sum(seconds[c].values()))):
        row = seconds[chapter]
        write(f"{chapter:<30}" + "".join(f"{row[kind]:>14.0f}" for kind in kinds)
              + f"{sum(row.values()):>10.0f}")
    total = sum(per_test.values())
    write(f"{'all':<30}" + "".join(f"{sum(r[k] for r in seconds.values()):>14.0f}" for k in kinds)
          + f"{total:>10.0f}")
    terminalreporter.section(f"slowest {SLOWEST} tests (seconds: set-up + call + tear-down)")
    for nodeid, duration in sorted(per_test.items(), key=lambda item: -item[1])[:SLOWEST]:
        write(f"{duration:>8.1f}  {nodeid}")


@pytest.fixture
def spy_on(monkeypatch):
    """spy_on(module, name): replace module.<name> by a wrapper that records (arguments, figure)
    of every call, and return the list of those records."""
    def install(module, name: str) -> list:
        calls, original = [], getattr(module, name)

        def spy(*args):
            figure = original(*args)
            calls.append((args, figure))
            return figure

        monkeypatch.setattr(module, name, spy)
        return calls

    return install
