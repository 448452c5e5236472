"""The course in a real browser: JupyterLab, ipywidgets and nbgrader in headless Chromium.

For each chapter the student notebook (a temporary copy, see conftest.py) is opened and run in
JupyterLab; its outputs must then be what a student sees on a working install: rendered widgets
instead of their text fallback, plots as images, and no error other than the NotImplementedError of
the unsolved graded cells and the errors that follow from them (see notebook_checks.py). A
screenshot of each chapter goes to build/screenshots/<chapter>.png. nbgrader's JupyterLab
extensions are checked once: the Nbgrader menu, the Validate button, the assignment list and the
formgrader.

All browser tests run on one pytest(-xdist) worker (one xdist group), which starts one
JupyterLab server and one Chromium for them all.
"""

import re
from pathlib import Path

import nbformat
import pytest

from .notebook_checks import (
    count_outputs_with,
    has_grade_cells,
    outputs,
    plots,
    raised_not_implemented,
    unexplained_errors,
)

pytestmark = pytest.mark.xdist_group("browser")
ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted(path.parent.name for path in ROOT.glob("assignments/ch*/ch*.ipynb")
                  if path.stem == path.parent.name)
NOTEBOOK_TIMEOUT_MS = 600_000
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_FALLBACK_TEXTS = ("Loading widget...", "could not be displayed", "Error displaying widget")
MAX_SCREENSHOT_HEIGHT = 32_000

# JavaScript run in the page. `window.jupyterapp` is JupyterLab's application object, exposed by
# the server flag --LabApp.expose_app_in_browser (as JupyterLab's own UI tests do); the tests read
# state through it and act through the UI.
CURRENT_PANEL_JS = "window.jupyterapp && window.jupyterapp.shell.currentWidget"
KERNEL_IDLE_JS = f"""() => {{
    const panel = {CURRENT_PANEL_JS};
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
        && panel.sessionContext.session.kernel;
    return !!kernel && kernel.status === 'idle';
}}"""
# Every non-empty code cell has an execution count and the kernel is idle again. (The copies start
# without counts, and a queued cell has none until the kernel starts it.)
ALL_CELLS_RUN_JS = f"""() => {{
    if (!({KERNEL_IDLE_JS})()) return false;
    const cells = Array.from({CURRENT_PANEL_JS}.content.model.cells);
    return cells.every(cell => cell.type !== 'code' || cell.sharedModel.getSource().trim() === ''
                                || cell.executionCount !== null);
}}"""
NOTEBOOK_JSON_JS = f"() => {CURRENT_PANEL_JS}.content.model.toJSON()"
NO_WIDGET_LOADING_JS = """() => !Array.from(document.querySelectorAll('.jp-OutputArea-output'))
    .some(node => node.textContent.includes('Loading widget...'))"""
# For [cell index, output index] pairs: what the notebook's DOM shows for that output.
RENDERED_OUTPUTS_JS = """pairs => {
    const cells = document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell');
    return pairs.map(([cell, output]) => {
        const area = cells[cell] && cells[cell].querySelector('.jp-Cell-outputArea');
        const child = area && area.querySelectorAll(':scope > .jp-OutputArea-child')[output];
        const node = child && child.querySelector('.jp-OutputArea-output');
        return {found: !!node, widget: !!(node && node.querySelector('.jupyter-widgets')),
                text: node ? node.textContent.slice(0, 300) : ''};
    });
}"""
# Scroll the notebook to the top; the page height at which its last cell is fully visible.
NOTEBOOK_BOTTOM_JS = """() => {
    const scroller = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer');
    scroller.scrollTop = 0;
    const cells = scroller.querySelectorAll('.jp-Cell');
    const statusBar = document.querySelector('#jp-main-statusbar');
    return Math.ceil(cells[cells.length - 1].getBoundingClientRect().bottom
                     + (statusBar ? statusBar.offsetHeight : 0) + 40);
}"""


def open_notebook(page, lab_server, path: str, workspace: str) -> None:
    """Open `path` in JupyterLab (in a fresh workspace) and wait until its kernel is idle."""
    page.goto(lab_server.url(f"lab/workspaces/{workspace}/tree/{path}", reset=""))
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
    page.wait_for_function(KERNEL_IDLE_JS, timeout=60_000)


def open_lab(page, lab_server) -> None:
    """Open JupyterLab with a fresh workspace and wait for its menu bar."""
    page.goto(lab_server.url("lab/workspaces/nbgrader", reset=""))
    page.locator("#jp-MainMenu").wait_for()


def menu_bar_item(page, menu: str):
    """The main menu bar's `menu` (e.g. "Run")."""
    return page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$"))


def click_menu(page, menu: str, item: str) -> None:
    """Click `item` in the main menu bar's `menu` (e.g. "Run", "Run All Cells")."""
    menu_bar_item(page, menu).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def run_all_cells(page) -> dict:
    """Run > Run All Cells, wait until every code cell ran and the kernel is idle; the notebook."""
    click_menu(page, "Run", "Run All Cells")
    page.wait_for_function(ALL_CELLS_RUN_JS, timeout=NOTEBOOK_TIMEOUT_MS, polling=250)
    return page.evaluate(NOTEBOOK_JSON_JS)


def widget_problems(page, notebook: dict) -> list[str]:
    """A line for each widget output that the DOM shows as text instead of an ipywidgets view.

    A widget closed by the kernel (a finished tqdm bar with leave=False) leaves an empty output;
    a missing or broken widget manager leaves the text fallback ("Loading widget...", the repr).
    At least one widget output must render, so the widget manager is known to work.
    """
    pairs = [[cell, index] for cell, index, output in outputs(notebook)
             if WIDGET_MIME in output.get("data", {})]
    shown = page.evaluate(RENDERED_OUTPUTS_JS, pairs)
    problems = [f"cell {cell}, output {index}: shown as {view['text']!r}"
                for (cell, index), view in zip(pairs, shown, strict=True)
                if not view["found"] or (not view["widget"] and view["text"].strip())
                or any(text in view["text"] for text in WIDGET_FALLBACK_TEXTS)]
    if pairs and not any(view["widget"] for view in shown):
        problems.append(f"none of the {len(pairs)} widget outputs rendered as a widget")
    return problems


def save_notebook_screenshot(page, path: Path) -> None:
    """Screenshot the whole notebook: the page grows to the notebook's height (capped)."""
    height = min(page.evaluate(NOTEBOOK_BOTTOM_JS), MAX_SCREENSHOT_HEIGHT)
    page.set_viewport_size({"width": page.viewport_size["width"],
                            "height": max(height, page.viewport_size["height"])})
    page.screenshot(path=str(path), full_page=True)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_student_notebook_runs_in_jupyterlab(page, lab_server, screenshot_dir, chapter):
    """Run All on the student notebook: widgets and plots render, only unsolved cells fail."""
    open_notebook(page, lab_server, f"assignments/{chapter}/{chapter}.ipynb", chapter)
    notebook = run_all_cells(page)
    page.wait_for_function(NO_WIDGET_LOADING_JS, timeout=30_000)
    images = page.locator(".jp-Cell-outputArea .jp-RenderedImage img").count()
    widgets = widget_problems(page, notebook)
    save_notebook_screenshot(page, screenshot_dir / f"{chapter}.png")

    solution = nbformat.read(ROOT / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    errors = unexplained_errors(notebook, solution)
    assert not errors, f"{chapter}: errors not caused by unsolved cells:\n" + "\n".join(errors)
    if has_grade_cells(notebook):
        assert raised_not_implemented(notebook), (
            f"{chapter}: the unsolved notebook raised no NotImplementedError")
    png_outputs = count_outputs_with(notebook, "image/png")
    assert images >= png_outputs, f"{chapter}: {png_outputs} plots in the outputs, {images} shown"
    if plots(notebook):
        assert images > 0, f"{chapter}: the notebook plots, but no image was rendered"
    assert not widgets, f"{chapter}: widgets not rendered:\n" + "\n".join(widgets)


def test_nbgrader_menu(page, lab_server):
    """nbgrader's JupyterLab extension adds the Nbgrader menu with its pages."""
    open_lab(page, lab_server)
    menu_bar_item(page, "Nbgrader").click()
    items = page.locator(".lm-Menu-itemLabel")
    items.first.wait_for()
    assert {"Assignment List", "Formgrader"} <= set(items.all_inner_texts())


def test_validate_button_on_student_notebook(page, lab_server):
    """Validate on an untouched student notebook opens nbgrader's results dialog (with failures)."""
    chapter = CHAPTERS[0]
    open_notebook(page, lab_server, f"assignments/{chapter}/{chapter}.ipynb", "validate")
    page.locator(".jp-NotebookPanel-toolbar .validate-button").click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=NOTEBOOK_TIMEOUT_MS)
    text = dialog.inner_text()
    assert "Validation Results" in text
    assert "NotImplementedError" in text, f"expected the unsolved cells to fail validation:\n{text}"


def test_assignment_list_page(page, lab_server):
    """Nbgrader > Assignment List shows the student's lists, empty, without an error."""
    open_lab(page, lab_server)
    click_menu(page, "Nbgrader", "Assignment List")
    panel = page.locator("#nbgrader-assignment-list")
    panel.get_by_text("There are no assignments to fetch.").wait_for()
    for list_id in ("released", "fetched", "submitted"):
        assert panel.locator(f"#{list_id}_assignments_list_error").is_hidden()


def test_formgrader_page(page, lab_server):
    """Nbgrader > Formgrader finds the course (its root is the server's) and lists every chapter."""
    open_lab(page, lab_server)
    click_menu(page, "Nbgrader", "Formgrader")
    formgrader = page.frame_locator("iframe[src*='formgrader']")
    formgrader.get_by_text("Manage Assignments").first.wait_for()
    table = formgrader.locator("#main-table")
    for chapter in CHAPTERS:
        table.get_by_text(chapter, exact=True).wait_for()
