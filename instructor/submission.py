"""Turn whatever a student handed in into the notebook the grader runs.

The graded notebook is the instructor's grading template (the student notebook with its hidden
tests put back) in which only the answer cells -- nbgrader solution cells, matched by grade_id --
carry the student's source. Everything else comes from the template: test cells, set-up cells,
cell metadata (points, grade flags, ids, tags), the kernel. So editing or deleting a test cell,
changing metadata or tags, or inserting cells changes nothing but a message to the student; a
missing answer cell is graded as unanswered; a duplicated one counts once.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

import nbformat
from nbformat import NotebookNode

MAX_ANSWER_CHARS = 200_000
IGNORED_TAGS = {"skip-execution", "raises-exception", "raises_exception"}


@dataclass
class Rebuilt:
    """The notebook to grade (None when the file could not be read) and what to tell the student."""

    notebook: NotebookNode | None
    messages: list[str] = field(default_factory=list)
    answers_found: int = 0


def nbgrader_meta(cell: dict) -> dict:
    meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
    value = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    return value if isinstance(value, dict) else {}


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(str(part) for part in source)
    return source if isinstance(source, str) else ""


def read_notebook(raw: bytes) -> tuple[dict | None, str | None]:
    """The submitted file as a notebook dict, or None and why it cannot be read."""
    if not raw.strip():
        return None, "the submitted file is empty."
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "the submitted file is not a text (UTF-8) notebook."
    except json.JSONDecodeError as error:
        return None, (f"the submitted file is not valid notebook JSON "
                      f"({error.msg}, line {error.lineno}).")
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return None, "the submitted file is JSON but not a Jupyter notebook (no list of cells)."
    if data.get("nbformat", 4) != 4:
        try:
            data = json.loads(nbformat.writes(nbformat.reads(json.dumps(data), as_version=4)))
        except Exception:
            return None, "the submitted notebook uses an nbformat version the grader cannot read."
    return data, None


def grade_cells(notebook: NotebookNode, kind: str) -> dict[str, NotebookNode]:
    """Cells of `notebook` whose nbgrader metadata sets `kind` ("solution", "grade"), by id."""
    return {nbgrader_meta(cell)["grade_id"]: cell for cell in notebook.cells
            if nbgrader_meta(cell).get(kind) and "grade_id" in nbgrader_meta(cell)}


def rebuild(raw: bytes, template: NotebookNode, release: NotebookNode) -> Rebuilt:
    """The notebook to grade for the submitted bytes `raw`.

    Args:
        raw: the submitted file.
        template: the grading template (student notebook with hidden tests restored).
        release: the student notebook as released (to tell which test cells were edited).
    """
    submitted, problem = read_notebook(raw)
    if submitted is None:
        return Rebuilt(None, [f"Not graded: {problem}"])
    graded = copy.deepcopy(template)
    messages: list[str] = []
    cells = [c for c in submitted["cells"] if isinstance(c, dict)]
    by_id: dict[str, list[dict]] = {}
    for cell in cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if isinstance(grade_id, str):
            by_id.setdefault(grade_id, []).append(cell)

    found = 0
    for grade_id, answer_cell in grade_cells(graded, "solution").items():
        candidates = [c for c in by_id.get(grade_id, []) if nbgrader_meta(c).get("solution")
                      and c.get("cell_type") == answer_cell.cell_type]
        if not candidates:
            messages.append(f"Answer cell '{grade_id}' is missing (deleted, or its metadata was "
                            "changed): it was graded as not answered.")
            continue
        if len(candidates) > 1:
            messages.append(f"Answer cell '{grade_id}' appears {len(candidates)} times: "
                            "only the first one was graded.")
        source = _source(candidates[0])
        if len(source) > MAX_ANSWER_CHARS:
            messages.append(f"Answer cell '{grade_id}' is longer than {MAX_ANSWER_CHARS} "
                            "characters: it was graded as not answered.")
            continue
        answer_cell.source = source
        found += 1

    messages += _changes_to_locked_cells(release, by_id)
    messages += _added_cells(release, cells)
    for cell in graded.cells:
        tags = [tag for tag in cell.metadata.get("tags", []) if tag not in IGNORED_TAGS]
        if tags:
            cell.metadata.tags = tags
        else:
            cell.metadata.pop("tags", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    if found == 0 and grade_cells(graded, "solution"):
        messages.insert(0, "Not graded: none of this chapter's answer cells are in the submitted "
                           "notebook. Is it the notebook of another chapter?")
    return Rebuilt(graded, messages, found)


def _changes_to_locked_cells(release: NotebookNode, by_id: dict[str, list[dict]]) -> list[str]:
    """Messages for test and read-only cells that were edited, deleted or re-labelled."""
    messages = []
    for cell in release.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution") or not (meta.get("grade") or meta.get("locked")):
            continue
        grade_id = meta["grade_id"]
        kind = "Test cell" if meta.get("grade") else "Read-only cell"
        submitted = by_id.get(grade_id, [])
        if not submitted:
            messages.append(f"{kind} '{grade_id}' was deleted or its id changed: "
                            "the original was run.")
            continue
        if _source(submitted[0]).strip() != cell.source.strip():
            messages.append(f"{kind} '{grade_id}' was edited: the original was run.")
        theirs = nbgrader_meta(submitted[0])
        changed = [key for key in ("grade", "solution", "locked", "points")
                   if theirs.get(key) != meta.get(key)]
        if changed or set(submitted[0].get("metadata", {}).get("tags", [])) & IGNORED_TAGS:
            what = ", ".join(changed) if changed else "tags"
            messages.append(f"{kind} '{grade_id}': its metadata ({what}) was changed; "
                            "the original was used.")
    return messages


def _added_cells(release: NotebookNode, cells: list[dict]) -> list[str]:
    """A message when the submission has code cells that are not in the released notebook."""
    known = {cell.source.strip() for cell in release.cells}
    added = [c for c in cells if c.get("cell_type") == "code" and not nbgrader_meta(c)
             and _source(c).strip() not in known and _source(c).strip()]
    if not added:
        return []
    return [f"{len(added)} code cell(s) you added or changed outside the answer cells were not "
            "run by the grader: only the answer cells are graded, so keep helper code inside them."]
