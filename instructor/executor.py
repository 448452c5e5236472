"""nbgrader's Execute step, run in a sandboxed kernel and hardened against hostile notebooks.

On top of nbgrader's Execute preprocessor:
- the kernel starts inside a bubblewrap sandbox (instructor.sandbox) over ZeroMQ ipc sockets;
- before each trusted cell that follows student code, the kernel guard (instructor.kernel_guard)
  restores what tests rely on, and the names student code had changed are reported;
- a kernel that dies (os._exit, a segfault, the memory or CPU-time limit) or stays stuck after a
  timeout is restarted, the earlier cells are replayed without the offending one, and execution
  goes on; the offending cell gets an error output, so its test scores 0;
- outputs are capped while they arrive, so a flood cannot exhaust the grader's memory;
- cell tags never skip a cell (`skip-execution` would otherwise score full points).
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any
from uuid import uuid4

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Instance, Integer, Unicode

from instructor.sandbox import GUARD_MODULE, Sandbox
from instructor.submission import nbgrader_meta

NEVER_SKIP = "\0never-skip"


class KernelStartError(RuntimeError):
    """The sandboxed kernel did not start: the grader's set-up is broken, not the submission."""


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts its kernel inside `sandbox` and talks over ipc sockets."""

    sandbox = Instance(Sandbox, allow_none=True)

    def start_sandboxed(self) -> None:
        """Put the connection file and the ipc sockets in the sandbox's run folder."""
        assert self.sandbox is not None
        name = uuid4().hex[:8]
        self.transport = "ipc"
        self.connection_file = str(self.sandbox.run_dir / f"kernel-{name}.json")
        self.ip = str(self.sandbox.run_dir / f"k{name}")

    @property
    def kernel_spec(self):  # type: ignore[override]
        spec = super().kernel_spec
        if spec is not None:
            # Signals would reach bubblewrap, not the kernel: interrupt over the control channel.
            spec.interrupt_mode = "message"
        return spec

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        assert self.sandbox is not None
        self.sandbox.hand_over(Path(self.connection_file))
        return self.sandbox.wrap(command)


@dataclass
class CellEvent:
    """Something the grader did to one cell, told to the student."""

    cell_index: int
    grade_id: str | None
    message: str


@dataclass
class ExecutionLog:
    """What happened while a notebook ran: crashes, timeouts, restored patches."""

    events: list[CellEvent] = field(default_factory=list)
    restarts: int = 0
    replay_seconds: float = 0.0


class SandboxedExecute(Execute):
    """nbgrader's Execute preprocessor with a sandboxed, restartable, guarded kernel."""

    max_output_bytes = Integer(1_000_000, help="Output kept per cell; the rest is dropped.")
    max_error_chars = Integer(10_000, help="An error's message and each traceback entry are cut "
                                           "to this length (errors are never dropped).")
    max_restarts = Integer(3, help="Kernel restarts allowed per notebook.")
    replay_budget = Integer(300, help="Seconds per notebook that replays after restarts may take "
                                      "in all; then the remaining cells are not run.")
    interrupt_grace = Integer(10, help="Seconds a timed-out kernel has to answer an interrupt.")
    sandbox = Instance(Sandbox, allow_none=True)
    chapter = Unicode("", help="The chapter graded: its reference code refuses answer cells.")

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(**kwargs)
        self.skip_cells_with_tag = NEVER_SKIP
        self.log_book = ExecutionLog()
        self._output_bytes: dict[int, int] = {}

    # -- kernel life -------------------------------------------------------------------------
    def create_kernel_manager(self) -> SandboxedKernelManager:
        km = super().create_kernel_manager()
        km.sandbox = self.sandbox
        km.start_sandboxed()
        return km

    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        assert self.sandbox is not None
        kwargs["cwd"] = str(self.sandbox.home)
        kwargs["env"] = self.sandbox.kernel_environment()
        # The kernel process's own chatter is not the notebook's output.
        kwargs["stdout"] = kwargs["stderr"] = subprocess.DEVNULL
        await super().async_start_new_kernel(**kwargs)

    start_new_kernel = run_sync(async_start_new_kernel)

    def _start(self) -> None:
        """Start a kernel (no student code has run in it yet, so any failure is the grader's)."""
        try:
            if self.km is None:
                self.km = self.create_kernel_manager()
            self.start_new_kernel()
            self.start_new_kernel_client()
            for channel in (self.kc.shell_channel, self.kc.iopub_channel):
                channel.get_msg = _polled_in_slices(channel.get_msg)
            reply = self.wait_for_reply(self.kc.kernel_info())
            self.nb.metadata["language_info"] = reply["content"]["language_info"]
        except Exception as error:
            raise KernelStartError(f"the grading kernel did not start "
                                   f"({type(error).__name__}: {error})") from error

    def _stop(self) -> None:
        if self.km is not None:
            try:
                self._cleanup_kernel()
            except Exception as error:  # a dead kernel may fail to shut down cleanly
                self.log.warning("kernel cleanup: %s", error)
            self.km = None
            self.kc = None

    # -- requests outside the notebook's cells ------------------------------------------------
    async def _async_request(self, code: str, timeout: float,
                             expression: str | None = None) -> dict | None:
        """Run `code` silently; return the reply content, or None when no reply came in time."""
        expressions = {"result": expression} if expression else {}
        msg_id = self.kc.execute(code, silent=True, store_history=False,
                                 user_expressions=expressions, allow_stdin=False)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return None
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=min(remaining, 1)))
            except Empty:
                if not await ensure_async(self.km.is_alive()):
                    return None  # a dead kernel never answers: do not wait the timeout out
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg["content"]

    _request = run_sync(_async_request)

    def _responds(self) -> bool:
        """Whether the kernel is alive and idle enough to answer within the interrupt grace."""
        try:
            alive = run_sync(self.km.is_alive)()
            return alive and self._request("pass", self.interrupt_grace) is not None
        except Exception:
            return False

    def _guard(self, action: str, arguments: str = "") -> tuple[bool, list[str]]:
        """Call the kernel guard; return (it answered, names it restored)."""
        call = f"__import__({GUARD_MODULE!r}).{action}({arguments})"
        reply = self._request("pass", 60, expression=call)
        if reply is None or reply.get("status") != "ok":
            return False, []
        result = reply.get("user_expressions", {}).get("result", {})
        if result.get("status") != "ok":
            return False, []
        value = result.get("data", {}).get("text/plain", "")
        try:
            names = ast.literal_eval(value) if value.startswith("[") else []
        except (ValueError, SyntaxError):
            names = [value]
        return True, names

    # -- outputs ------------------------------------------------------------------------------
    def output(self, outs: list[NotebookNode], msg: dict, display_id: str | None, cell_index: int):
        if msg["msg_type"] == "error":  # never dropped (it decides the score), only shortened
            msg["content"] = _shortened_error(msg["content"], self.max_error_chars)
        if msg["msg_type"] in ("stream", "display_data", "execute_result", "update_display_data"):
            size = len(json.dumps(msg["content"]))
            used = self._output_bytes.get(cell_index, 0)
            self._output_bytes[cell_index] = used + size
            if used + size > self.max_output_bytes:
                if used <= self.max_output_bytes:
                    note = "\n... output limit reached: the rest was dropped by the grader ...\n"
                    outs.append(NotebookNode(output_type="stream", name="stdout", text=note))
                return None
        return super().output(outs, msg, display_id, cell_index)

    def on_cell_executed(self, **kwargs):
        reply = kwargs["execute_reply"]
        if reply["content"].get("status") == "error":  # nbgrader copies it when unseen
            reply["content"] = _shortened_error(reply["content"], self.max_error_chars)
        return super().on_cell_executed(**kwargs)

    # -- the notebook -------------------------------------------------------------------------
    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None):
        from nbclient import NotebookClient

        NotebookClient.__init__(self, nb, km)
        self.skip_cells_with_tag = NEVER_SKIP
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self.log_book = ExecutionLog()
        poisoned: set[int] = set()
        start = 0
        try:
            while start < len(nb.cells):
                self._start()
                stopped = self._replay(start, poisoned)
                if stopped:
                    self._give_up(start, stopped)
                    break
                start = self._run_from(start, poisoned)
                self._stop()
        finally:
            self._stop()
        return self.nb, self.resources

    def _is_student(self, cell: NotebookNode) -> bool:
        return bool(cell.metadata.get("nbgrader", {}).get("solution")) and cell.cell_type == "code"

    def _replay(self, stop: int, poisoned: set[int]) -> str:
        """Re-run cells before `stop` in a fresh kernel, silently, skipping poisoned ones.

        Returns "" when done, or why the notebook cannot go on: the replay budget ran out, or
        replayed cells kept killing the kernel (each such cell is left out of later replays).
        """
        self._guarded = False
        started = time.monotonic()
        last = None
        try:
            for index, cell in enumerate(self.nb.cells[:stop]):
                if cell.cell_type != "code" or index in poisoned:
                    continue
                used = self.log_book.replay_seconds + time.monotonic() - started
                if used >= self.replay_budget:
                    self.log_book.replay_seconds = used
                    return "replaying the notebook after crashes used up its grading time"
                self._before(index, cell, report=False)
                last = index
                self._request(cell.source, min(self.timeout or 600, self.replay_budget - used))
                self._after(index, cell, report=False)
        except DeadKernelError:
            self.log_book.replay_seconds += time.monotonic() - started
            poisoned.add(last if last is not None else index)
            self.log_book.restarts += 1
            self._stop()
            if self.log_book.restarts > self.max_restarts:
                return "the kernel crashed too many times"
            self._start()
            return self._replay(stop, poisoned)
        self.log_book.replay_seconds += time.monotonic() - started
        return ""

    def _before(self, index: int, cell: NotebookNode, report: bool) -> bool:
        """Snapshot before the first student cell, restore before each trusted cell after it."""
        if self._is_student(cell):
            if not self._guarded:
                answers = [c.source for c in self.nb.cells if self._is_student(c)]
                self._guarded = self._guard("snapshot", f"{self.chapter!r}, {answers!r}")[0]
                if not self._guarded:  # no student code has run yet: the grader is broken
                    raise RuntimeError("the kernel guard did not load in the sandbox")
            return True
        if not self._guarded:
            return True
        answered, names = self._guard("restore")
        if not answered and not run_sync(self.km.is_alive)():
            raise DeadKernelError("the kernel died before this cell")
        if report and names:
            put_back = any(not name.startswith("refused: ") for name in names)
            self._event(index, cell, _changes(names) + ("; the grader put them back before "
                                                        "running this cell." if put_back else "."))
        if not answered and report:
            self._event(index, cell, "the grader could not restore the test environment "
                                     "(your code tampered with it): this cell was not run.")
        return answered

    def _after(self, index: int, cell: NotebookNode, report: bool) -> None:
        """After a trusted cell: keep what it bound, and undo what student code did meanwhile.

        A test cell during which student code changed what tests rely on (a function called by
        the test that patches a check, a thread, a timer...) scores 0.
        """
        if not self._guarded or self._is_student(cell):
            return
        answered, names = self._guard("restore", repr(sorted(bound_names(cell.source))))
        if not report or not (names or not answered):
            return
        if not answered:
            names = ["the test environment, so that the grader could not restore it"]
        if nbgrader_meta(cell).get("grade"):
            self._fail(index, cell, "ChangedDuringTest", "student code changed what this test "
                                                         "relies on while it ran")
            self._event(index, cell, _changes(names) + " while this test ran, so it scores 0.")
        else:
            self._event(index, cell, _changes(names) + " while this cell ran; the grader put "
                                                       "them back.")

    def _run_from(self, start: int, poisoned: set[int]) -> int:
        """Execute cells from `start`; return where to resume after a crash, or len(cells)."""
        previous = None
        for index in range(start, len(self.nb.cells)):
            cell = self.nb.cells[index]
            if cell.cell_type != "code":
                continue
            try:
                if previous is not None and not run_sync(self.km.is_alive)():
                    raise DeadKernelError("dead between cells")
                ready = self._before(index, cell, report=True)
            except DeadKernelError:
                culprit = index if previous is None else previous
                return self._crashed(culprit, self.nb.cells[culprit], poisoned,
                                     "the kernel died at the end of this cell (exit(), quit() "
                                     "or a crash)")
            previous = index
            if not ready:
                self._fail(index, cell, "GraderError", "test environment tampered with; not run")
                continue
            try:
                self.preprocess_cell(cell, self.resources, index)
            except DeadKernelError:
                return self._crashed(index, cell, poisoned,
                                     "the kernel died while running this cell (a crash, os._exit, "
                                     "sys.exit in a thread, or the memory or CPU-time limit)")
            except CellTimeoutError as error:
                self._fail(index, cell, "CellTimeoutError", str(error).splitlines()[0])
            if self._timed_out(cell):
                poisoned.add(index)
                self._event(index, cell,
                            f"this cell ran longer than {self.timeout} s and was interrupted.")
                if not self._responds():
                    return self._crashed(index, cell, poisoned,
                                         "the kernel ignored the interrupt after the time limit")
            self._after(index, cell, report=True)
        return len(self.nb.cells)

    def _crashed(self, index: int, cell: NotebookNode, poisoned: set[int], why: str) -> int:
        poisoned.add(index)
        self._fail(index, cell, "KernelDied", why)
        self._event(index, cell, why + "; the grader restarted the kernel and went on without it.")
        self.log_book.restarts += 1
        self._stop()
        if self.log_book.restarts <= self.max_restarts:
            return index + 1
        self._give_up(index + 1, "the kernel crashed too many times")
        return len(self.nb.cells)

    def _give_up(self, start: int, reason: str) -> None:
        """Fail every code cell from `start` on (they score 0), saying why once."""
        cells = [i for i in range(start, len(self.nb.cells))
                 if self.nb.cells[i].cell_type == "code"]
        if cells:
            self._event(cells[0], self.nb.cells[cells[0]],
                        f"{reason}: this cell and the ones after it were not run.")
        for index in cells:
            self._fail(index, self.nb.cells[index], "KernelDied", f"not run: {reason}")

    @staticmethod
    def _timed_out(cell: NotebookNode) -> bool:
        return any(o.get("output_type") == "error" and o.get("ename") == "CellTimeoutError"
                   for o in cell.get("outputs", []))

    @staticmethod
    def _fail(index: int, cell: NotebookNode, ename: str, evalue: str) -> None:
        cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"]
        cell.outputs.append(NotebookNode(output_type="error", ename=ename, evalue=evalue,
                                         traceback=[f"{ename}: {evalue}"]))

    def _event(self, index: int, cell: NotebookNode, message: str) -> None:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        self.log_book.events.append(CellEvent(index, grade_id, message))


def _polled_in_slices(get_msg, slice_seconds: float = 0.5):
    """`get_msg` that looks at its socket at least every `slice_seconds`.

    pyzmq's asyncio poll sometimes misses the wake-up of a message that has arrived, and finds
    it only when its timeout ends: with two graders on two cores, 3 of 40 ch05 gradings waited
    the whole 120 s cell timeout for a reply the kernel had already sent. Short polls bound
    that wait to `slice_seconds`.
    """
    async def get_msg_in_slices(timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = slice_seconds if deadline is None else deadline - time.monotonic()
            try:
                return await ensure_async(get_msg(timeout=max(0.0, min(slice_seconds, left))))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    return get_msg_in_slices


def _shortened_error(content: dict, limit: int) -> dict:
    """An error reply with its message and traceback cut to `limit` characters each (at most
    40 traceback entries, the first 20 and the last 20)."""
    def cut(text: str) -> str:
        text = str(text)
        if len(text) <= limit:
            return text
        return text[:limit] + f"... ({len(text) - limit} more characters)"

    traceback = [cut(entry) for entry in content.get("traceback", [])]
    if len(traceback) > 40:
        traceback = traceback[:20] + ["..."] + traceback[-20:]
    return {**content, "ename": str(content.get("ename", ""))[:200],
            "evalue": cut(content.get("evalue", "")), "traceback": traceback}


def _changes(names: list[str]) -> str:
    """The guard's findings, told to the student."""
    refused = [name.removeprefix("refused: ") for name in names if name.startswith("refused: ")]
    changed = [name for name in names if not name.startswith("refused: ")]
    parts = []
    if changed:
        parts.append("your code changed " + ", ".join(changed[:8])
                     + (" ..." if len(changed) > 8 else ""))
    if refused:
        parts.append("the grader refused to let your code " + ", ".join(refused))
    return "; ".join(parts)


class _Bindings(ast.NodeVisitor):
    """Names a cell binds at its top level (not inside functions, classes or comprehensions)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.names.add(node.id)

    def visit_FunctionDef(self, node) -> None:
        self.names.add(node.name)

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

    def visit_Import(self, node) -> None:
        self.names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)

    visit_ImportFrom = visit_Import

    def visit_Lambda(self, node) -> None:
        pass

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_Lambda


def bound_names(source: str) -> set[str]:
    """The names a notebook cell binds at its top level (IPython magics understood)."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return set()
    visitor = _Bindings()
    visitor.visit(tree)
    return visitor.names


def grading_timeout() -> int:
    """Seconds per cell (GRADE_TIMEOUT, default 120)."""
    return int(os.environ.get("GRADE_TIMEOUT", "120"))
