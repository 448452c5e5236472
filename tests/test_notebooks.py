"""Every solution notebook runs top to bottom under nbval.

All cells must run without an error; cells tagged nbval-check-output must print what they
printed when the notebook was committed. Each notebook runs in its own pytest process (nbval
keeps one kernel per notebook), so xdist can run two notebooks at once.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "solutions").glob("ch*/*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_solution_notebook_runs(notebook):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
         "-q", "--no-header", str(notebook.relative_to(ROOT))],
        cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"{notebook.name} failed under nbval:\n{result.stdout[-10000:]}"
