"""Before grading: one canary kernel, started exactly as graded kernels are, proves the set-up.

A set-up that cannot start a kernel in the sandbox, or whose kernels import course_utils from
another place than the one the grader shows them (a venv reached through a symlink, an editable
install of course_utils pointing at another checkout), would give every student 0 with a
traceback as feedback. The canary finds that first, and says which path was imported and which
one was expected.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import sys
import tempfile
import urllib.parse
from pathlib import Path

import nbformat

import course_utils
from instructor.executor import KernelStartError, SandboxedExecute
from instructor.sandbox import Sandbox, SandboxPolicy

# What the notebooks' set-up and test cells import, and where course_utils came from.
CANARY = """\
import json, os
found = {}
try:
    import numpy, torch, matplotlib.pyplot, ipywidgets, _course_guard
    import course_utils, course_utils.grading
    found["course_utils"] = os.path.realpath(os.path.dirname(course_utils.__file__))
except BaseException as error:
    found["error"] = f"{type(error).__name__}: {error}"
print(json.dumps(found))
"""


class SetupError(RuntimeError):
    """This machine cannot grade: the message says why and what to fix."""


def expected_package() -> Path:
    """The course_utils folder the sandbox shows graded kernels (the grader's own)."""
    return Path(course_utils.__file__).resolve().parent


def check_setup(sandboxed: bool = True, policy: SandboxPolicy | None = None) -> str:
    """Start one canary kernel as grading does and import what the tests import.

    Returns the course_utils folder the kernel imported; raises SetupError naming the cause.
    """
    work = Path(tempfile.mkdtemp(prefix="canary-", dir="/tmp"))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CANARY)])
    sandbox = Sandbox(home=work / "home", run_dir=work / "run",
                      policy=policy or SandboxPolicy(), enabled=sandboxed)
    try:
        sandbox.prepare()
        executor = SandboxedExecute(timeout=120, sandbox=sandbox)
        try:
            executor.preprocess(notebook, {"metadata": {"path": str(sandbox.home)}})
        except KernelStartError as error:
            raise SetupError(f"{error}. The kernel command is {sys.executable} (venv "
                             f"{sys.prefix}, resolved {Path(sys.prefix).resolve()})") from error
    finally:
        sandbox.kill_all()
        shutil.rmtree(work, ignore_errors=True)
    found = _printed_json(notebook.cells[0])
    expected = str(expected_package())
    if "error" in found:
        raise SetupError(f"a graded kernel cannot import what the tests import ({found['error']}); "
                         f"course_utils was expected from {expected}.{_install_hint()}")
    if found.get("course_utils") != expected:
        raise SetupError(f"a graded kernel imported course_utils from {found.get('course_utils')}, "
                         f"but the grader expected {expected}.{_install_hint()}")
    return found["course_utils"]


def installed_from() -> Path | None:
    """The checkout that the venv's editable install of course_utils points at (PEP 610)."""
    for distribution in importlib.metadata.distributions(name="course_utils"):
        try:  # a checkout's own course_utils.egg-info has no record: the venv's has
            info = json.loads(distribution.read_text("direct_url.json") or "{}")
        except json.JSONDecodeError:
            continue
        url = urllib.parse.urlparse(info.get("url", ""))
        if url.scheme == "file" and info.get("dir_info", {}).get("editable"):
            return Path(urllib.parse.unquote(url.path))
    return None


def _install_hint() -> str:
    checkout = installed_from()
    if checkout is None or (checkout / "course_utils").resolve() == expected_package():
        return ""
    return (f" The venv's editable install of course_utils points at {checkout}, another "
            f"checkout: run the grader from {checkout}, or reinstall the venv from this one "
            "(pip install -e .).")


def _printed_json(cell: nbformat.NotebookNode) -> dict:
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")
    errors = [f"{o.ename}: {o.evalue}" for o in cell.get("outputs", []) if o.output_type == "error"]
    try:
        return json.loads(text.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": errors[0] if errors else f"the canary printed {text[:200]!r}"}


def check_workers(client, sandboxed: bool) -> None:
    """Run the canary on one Dask worker of each grading machine; raise SetupError if one fails."""
    hosts: dict[str, str] = {}
    for address, info in client.scheduler_info()["workers"].items():
        hosts.setdefault(info.get("host", address), address)
    results = client.run(check_setup, sandboxed, workers=list(hosts.values()), on_error="return")
    failures = [f"{address}: {result}" for address, result in results.items()
                if isinstance(result, BaseException)]
    if failures:
        raise SetupError("the grading set-up is broken, nothing was graded:\n  "
                         + "\n  ".join(failures))


if __name__ == "__main__":  # python -m instructor.preflight [--no-sandbox]
    try:
        print("graded kernels import course_utils from",
              check_setup(sandboxed="--no-sandbox" not in sys.argv))
    except SetupError as error:
        sys.exit(f"cannot grade: {error}")
