"""tests/device_report.py: the comparison it prints, and its refusal to run without a GPU."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

SCRIPT = Path(__file__).parent / "device_report.py"
sys.path.insert(0, str(SCRIPT.parent))
import device_report  # noqa: E402


def ran(*texts: str) -> nbformat.NotebookNode:
    """A notebook of one markdown cell, then one code cell per text, each having printed it."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# title")]
    for text in texts:
        cell = nbformat.v4.new_code_cell("...")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        nb.cells.append(cell)
    return nb


def test_differing_cells_lists_only_code_cells_that_print_differently():
    gpu, cpu = ran("loss 0.229\n", "same\n"), ran("loss 0.319\n", "same\n")
    assert device_report.differing_cells(gpu, cpu) == [(1, "loss 0.229\n", "loss 0.319\n")]
    assert device_report.differing_cells(gpu, gpu) == []


def test_printed_includes_results_and_errors():
    cell = nbformat.v4.new_code_cell("...")
    cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "42"},
                                           execution_count=1),
                    nbformat.v4.new_output("error", ename="ValueError", evalue="bad", traceback=[])]
    assert device_report.printed(cell) == "42ValueError: bad"


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason="checks the message shown where there is no GPU")
def test_refuses_to_run_without_a_gpu(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "no CUDA device visible to torch" in result.stderr
    assert not any(tmp_path.iterdir())


def test_unknown_chapter_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(sys, "argv", ["device_report.py", "ch99_nothing", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="no notebook solutions/ch99_nothing/ch99_nothing.ipynb"):
        device_report.main()
