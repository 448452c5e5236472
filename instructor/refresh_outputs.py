"""Re-execute solution notebooks and keep only the outputs that nbval checks.

Usage: python -m instructor.refresh_outputs solutions/chNN_topic/chNN_topic.ipynb [...]

Cells tagged ``nbval-check-output`` keep their fresh outputs (nbval compares them on every test
run); every other cell is committed without outputs. A cell that raises stops the refresh, so a
solution notebook that does not run cleanly is never written.
"""

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

CHECKED_TAG = "nbval-check-output"


def is_output_checked(cell: nbformat.NotebookNode) -> bool:
    return CHECKED_TAG in cell.get("metadata", {}).get("tags", [])


def refresh(path: Path, timeout: int = 600) -> float:
    """Execute the notebook at `path` in its folder, strip unchecked outputs, save it; return
    the seconds it took."""
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if not is_output_checked(cell):
            cell.outputs = []
            cell.execution_count = None
    # Remove run-dependent noise (timings, widget state with fresh ids) so that a re-run
    # without changes gives the same file.
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)
    return seconds


def main(paths: list[str]) -> None:
    if not paths:
        sys.exit(__doc__)
    for name in paths:
        seconds = refresh(Path(name))
        print(f"{name}: executed in {seconds:.1f} s, outputs refreshed")


if __name__ == "__main__":
    main(sys.argv[1:])
