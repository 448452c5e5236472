"""The kernel guard in a sandboxed kernel, as grading runs it: what it keeps, undoes and refuses;
and the executor's limits on a kernel that dies."""

from __future__ import annotations

import os
import signal
import time

import nbformat
import pytest

from adversarial.support import require_sandbox
from instructor.executor import SandboxedExecute
from instructor.sandbox import Sandbox

CHAPTER = "ch04_backprop"  # affine_relu_forward calls affine_forward and relu_forward


def answer(source: str, grade_id: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
        "solution": True, "grade": False, "locked": False, "grade_id": grade_id,
        "schema_version": 3}})


def run(cells: list[nbformat.NotebookNode], tmp_path, sandboxed: bool = True, **settings):
    sandbox = Sandbox(home=tmp_path / "home", run_dir=tmp_path / "run", enabled=sandboxed)
    sandbox.prepare()
    executor = SandboxedExecute(timeout=60, sandbox=sandbox, chapter=CHAPTER, **settings)
    notebook, _ = executor.preprocess(nbformat.v4.new_notebook(cells=cells),
                                      {"metadata": {"path": str(sandbox.home)}})
    printed = ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream").strip()
               for c in notebook.cells]
    errors = [[o.ename for o in c.outputs if o.output_type == "error"] for c in notebook.cells]
    return printed, errors, [event.message for event in executor.log_book.events]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    require_sandbox()
    code = nbformat.v4.new_code_cell
    cells = [
        code("import numpy as np\nfrom course_utils import layers\n"
             "from course_utils.models import fc_net\n"
             "x, w, b = np.ones((2, 3)), np.ones((3, 2)), np.zeros(2)"),
        answer("def batchnorm_forward(x, gamma, beta, bn_param):\n    return 'student', None\n"
               "def affine_relu_forward(x, w, b):\n    return layers.affine_relu_forward(x, w, b)",
               "answers"),
        code("fc_net.batchnorm_forward = batchnorm_forward"),  # a course cell installs the answer
        code("print(fc_net.batchnorm_forward(x, 1, 0, {})[0])"),
        code("print(layers.affine_relu_forward(x, w, b)[0].sum())"),  # reference -> references
        code("try:\n    affine_relu_forward(x, w, b)\n"
             "except NotImplementedError:\n    print('refused')"),
        answer("fc_net.batchnorm_forward = len\nlayers.relu_forward = len", "tampering"),
        code("print(fc_net.batchnorm_forward is batchnorm_forward, layers.relu_forward is len)"),
    ]
    return run(cells, tmp_path_factory.mktemp("guard"))


def test_what_a_course_cell_installs_stays(guarded):
    printed, errors, _ = guarded
    assert printed[3] == "student" and not errors[3]


def test_a_reference_may_call_other_references_from_a_course_cell(guarded):
    printed, errors, _ = guarded
    assert printed[4] == "12.0" and not errors[4]


def test_an_answer_calling_a_reference_is_refused(guarded):
    printed, _, _ = guarded
    assert printed[5] == "refused"


def test_an_answers_own_changes_are_undone_and_reported_and_nothing_else(guarded):
    printed, _, messages = guarded
    assert printed[7] == "True False"
    assert len(messages) == 1, messages
    assert "course_utils.models.fc_net.batchnorm_forward" in messages[0]
    assert "course_utils.layers.relu_forward" in messages[0]


def test_a_dead_kernel_is_seen_at_once(tmp_path):
    """The liveness check asks the kernel manager (awaited), instead of waiting the grace out."""
    sandbox = Sandbox(home=tmp_path / "home", run_dir=tmp_path / "run", enabled=False)
    sandbox.prepare()
    executor = SandboxedExecute(timeout=60, sandbox=sandbox, interrupt_grace=60)
    executor.nb = nbformat.v4.new_notebook()
    executor._start()
    try:
        os.kill(executor.km.provisioner.pid, signal.SIGKILL)
        executor.km.provisioner.process.wait()
        start = time.monotonic()
        assert not executor._responds()
        assert time.monotonic() - start < 20
    finally:
        executor._stop()


def test_replays_after_crashes_stop_when_their_budget_is_spent(tmp_path):
    """Each crash replays the cells before it; past the replay budget the rest scores 0."""
    code = nbformat.v4.new_code_cell
    crash = answer("import os\nos._exit(1)", "crash")
    cells = [code("import time\ntime.sleep(3)"), crash, code("print('after the first crash')"),
             answer("import os\nos._exit(1)", "crash_again"), code("print('not reached')")]
    printed, errors, messages = run(cells, tmp_path, sandboxed=False, replay_budget=4)
    assert printed[2] == "after the first crash"  # the first replay fitted in the budget
    assert errors[4] == ["KernelDied"] and printed[4] == ""
    assert any("used up its grading time" in message for message in messages)
