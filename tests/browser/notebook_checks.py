"""What an untouched student notebook may show after Run All: pure functions on its JSON.

An unsolved graded function raises NotImplementedError wherever it is called. Later cells that use
what such a cell would have computed fail in turn (a NameError, a KeyError on a half-filled dict):
those errors are explained by the unsolved cells. Any other error is a bug in the chapter.
"""

import ast
import re
from collections.abc import Iterator


def outputs(notebook: dict) -> Iterator[tuple[int, int, dict]]:
    """(cell index, output index, output) for every output of every code cell."""
    for cell_index, cell in enumerate(notebook["cells"]):
        for output_index, output in enumerate(cell.get("outputs", [])):
            yield cell_index, output_index, output


def _source(cell: dict) -> str:
    """A cell's source as one string (nbformat allows a list of lines)."""
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def _names(source: str, context: type) -> set[str]:
    """Names the Python code in `source` stores (context ast.Store) or reads (ast.Load).

    Stored names include defined functions and classes and imports. IPython magics and shell
    escapes are left out; code that does not parse has no names.
    """
    python = "\n".join(line for line in source.splitlines()
                       if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return set()
    names = {node.id for node in ast.walk(tree)
             if isinstance(node, ast.Name) and isinstance(node.ctx, context)}
    if context is ast.Store:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.alias):
                names.add((node.asname or node.name).split(".")[0])
    return names


def stored_names(notebook: dict) -> set[str]:
    """Every name that some code cell of `notebook` assigns, defines or imports."""
    return set().union(*(_names(_source(cell), ast.Store) for cell in notebook["cells"]
                         if cell["cell_type"] == "code"))


def unexplained_errors(student: dict, solution: dict) -> list[str]:
    """'cell i: ename: evalue' for each error in the run student notebook that is not explained.

    Explained are NotImplementedError, and any error in a cell that reads a name which only the
    solution computes, or which an earlier failed cell was computing.

    Args:
        student: the student notebook after Run All (nbformat JSON).
        solution: the chapter's solution notebook (nbformat JSON).
    """
    missing = stored_names(solution) - stored_names(student)
    unexplained = []
    for index, cell in enumerate(student["cells"]):
        errors = [output for output in cell.get("outputs", []) if output["output_type"] == "error"]
        if not errors:
            continue
        reads_missing = bool(_names(_source(cell), ast.Load) & missing)
        unexplained += [f"cell {index}: {error['ename']}: {error['evalue']}" for error in errors
                        if error["ename"] != "NotImplementedError" and not reads_missing]
        missing |= _names(_source(cell), ast.Store)
    return unexplained


def count_outputs_with(notebook: dict, mime_type: str) -> int:
    """How many outputs carry `mime_type` (e.g. image/png)."""
    return sum(mime_type in output.get("data", {}) for _, _, output in outputs(notebook))


def raised_not_implemented(notebook: dict) -> bool:
    """Whether any cell's output is a NotImplementedError."""
    return any(output["output_type"] == "error" and output["ename"] == "NotImplementedError"
               for _, _, output in outputs(notebook))


def has_grade_cells(notebook: dict) -> bool:
    """Whether the notebook has nbgrader grade cells (which an unsolved copy must fail)."""
    return any(cell["metadata"].get("nbgrader", {}).get("grade") for cell in notebook["cells"])


def plots(notebook: dict) -> bool:
    """Whether any code cell plots (matplotlib directly or course_utils.plotting)."""
    return any(re.search(r"\bplt\.|\bplotting\.", _source(cell))
               for cell in notebook["cells"] if cell["cell_type"] == "code")
