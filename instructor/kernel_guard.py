"""Inside a graded kernel: undo what student code changed in the things the tests rely on.

Loaded as the module `_course_guard` when the kernel starts, before any student code. The grader
calls `snapshot()` once the notebook's own set-up cells have run (still before any student cell),
and `restore()` right before each course cell (test or teaching cell) that follows student code.
`restore()` puts back, object by object, what was there at the snapshot: the attributes of numpy,
numpy.testing, course_utils and the standard modules the tests use, the code of their Python
functions, the builtins, sys.stdout/stderr and the hooks, and the IPython shell's error reporting
(showtraceback and friends). It returns the names it had to put back, which the grader reports
to the student. What course code itself assigns to a course_utils module after the snapshot
(a cell that runs the course's model on the student's layers) is kept, not undone.

This module must not import anything from the instructor package (the sandbox cannot see it).
It is a guard against monkey-patching, not a security boundary: code in the same process that
targets this module specifically can defeat it (see instructor/README.md).
"""

import builtins
import sys
import types

# Modules (and their submodules) whose attributes tests rely on.
GUARDED_PREFIXES = ("numpy", "course_utils", "math", "operator", "functools", "itertools",
                    "warnings", "traceback", "unittest", "torch.testing", "builtins",
                    "threading", "_thread", "signal", "gc", "_course_guard")
SYS_HOOKS = ("stdout", "stderr", "displayhook", "excepthook", "settrace", "setprofile",
             "breakpointhook")
# Shell and kernel methods that decide whether a cell's error is reported.
SHELL_METHODS = ("showtraceback", "_showtraceback", "showsyntaxerror", "showindentationerror",
                 "run_cell", "run_cell_async", "run_code", "run_ast_nodes", "transform_cell",
                 "user_expressions", "ex", "ev", "excepthook", "get_exception_only",
                 "_get_exc_info", "_run_cell", "should_run_async", "run_line_magic", "ask_exit")
KERNEL_METHODS = ("do_execute", "execute_request", "send_response", "_publish_execute_input",
                  "_publish_status", "dispatch_shell", "process_one")
SESSION_METHODS = ("send", "serialize", "sign", "msg")

_state: dict = {}
_MISSING = object()
# Code objects of the guard's own wrappers: their frames are neither student nor unknown code.
_OWN_CODES: set = set()


def _is_guarded(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in GUARDED_PREFIXES)


def _shell_objects() -> list:
    """The IPython shell, the kernel and its session, when running in a kernel."""
    try:
        from IPython import get_ipython
    except ImportError:
        return []
    shell = get_ipython()
    if shell is None:
        return []
    kernel = getattr(shell, "kernel", None)
    session = getattr(kernel, "session", None)
    pairs = [(shell, SHELL_METHODS)]
    if kernel is not None:
        pairs.append((kernel, KERNEL_METHODS))
    if session is not None:
        pairs.append((session, SESSION_METHODS))
    return pairs


def _function_state(function: types.FunctionType) -> tuple:
    return (function.__code__, function.__defaults__, function.__kwdefaults__)


def _coerce_arrays(function):
    """Wrap a course_utils.grading assertion: ndarray subclasses become plain arrays first.

    A subclass can override comparisons (__eq__, __array_ufunc__) to pass any check; the plain
    array view keeps the student's values and drops their overrides.
    """
    import functools

    import numpy

    as_plain = numpy.asarray
    ndarray = numpy.ndarray

    def plain(value):
        if isinstance(value, ndarray) and type(value) is not ndarray:
            return as_plain(value)
        return value

    @functools.wraps(function)
    def checked(*args, **kwargs):
        args = tuple(plain(a) for a in args)
        kwargs = {k: plain(v) for k, v in kwargs.items()}
        return function(*args, **kwargs)

    _OWN_CODES.add(checked.__code__)
    return checked


def _harden_grading() -> None:
    grading = sys.modules.get("course_utils.grading")
    if grading is None or getattr(grading, "__guarded__", False):
        return
    for name, value in list(vars(grading).items()):
        if name.startswith("assert_") and name != "assert_raises" and callable(value):
            setattr(grading, name, _coerce_arrays(value))
    grading.__guarded__ = True


def _answer_files(answers: list[str]) -> set[str]:
    """The file names IPython gives to the code of these answer cells."""
    shells = _shell_objects()
    if not shells:
        return set()
    compiler = shells[0][0].compile
    return {compiler.get_code_name(source, source, 0) for source in answers}


def _course_code_only(frame) -> bool:
    """Whether every frame from `frame` outwards is course code: notebook cells that are not
    answer cells, installed modules (course_utils, the standard library, packages) and the
    guard's own wrappers (a reference that calls another reference passes through them)."""
    answer_files, trusted = _state.get("answer_files", set()), _state.get("trusted", ())
    cells = _cell_files()
    while frame is not None:
        if frame.f_code not in _OWN_CODES:
            filename = frame.f_code.co_filename
            if filename in answer_files:
                return False
            if not (filename.startswith(trusted) or filename in cells):
                return False  # exec'd strings, files written at run time
        frame = frame.f_back
    return True


def _refusing(function, chapter: str):
    """`function`, refusing to run when an answer cell (or code it made up) is on the stack."""
    def guarded(*args, **kwargs):
        if not _course_code_only(sys._getframe(1)):
            raise NotImplementedError(
                f"written in {chapter}: an answer may not call the course's reference "
                f"implementation {function.__module__}.{function.__qualname__}")
        return function(*args, **kwargs)

    _OWN_CODES.add(guarded.__code__)
    for name in ("__name__", "__qualname__", "__doc__", "__module__"):
        setattr(guarded, name, getattr(function, name))
    guarded.__graded_in__ = chapter
    return guarded


class _CourseModule(types.ModuleType):
    """A course_utils module that keeps what course cells install in it.

    A course cell may put the student's functions into the package (chapter 7 runs its network
    on the student's layers); such an assignment, made by course code alone, becomes part of
    the state that `restore()` puts back. The same assignment from student code is undone and
    reported, like any other change.
    """

    def __setattr__(self, name: str, value) -> None:
        super().__setattr__(name, value)
        saved = _state.get("module_dicts", {}).get(self.__name__)
        if saved is not None and _course_code_only(sys._getframe(1)):
            saved[name] = value


def _cell_files() -> dict:
    shells = _shell_objects()
    return getattr(shells[0][0].compile, "_filename_map", {}) if shells else {}


def _trusted_prefixes() -> tuple[str, ...]:
    """Where installed code lives: the Python install, the venv and the course_utils package."""
    import os

    places = {sys.base_prefix, sys.prefix}
    course_utils = sys.modules.get("course_utils")
    if course_utils is not None and getattr(course_utils, "__file__", None):
        places.add(os.path.dirname(course_utils.__file__))
    return tuple(places | {os.path.realpath(p) for p in places} | {"<frozen "})


def _protect_references(chapter: str) -> None:
    """Reference implementations of `chapter` refuse calls that come from answer cells."""
    import importlib
    import os
    import pkgutil

    try:
        import course_utils
    except ImportError:
        return
    package = os.path.dirname(course_utils.__file__)
    marker = f'graded_in("{chapter}")'
    for info in pkgutil.walk_packages([package], "course_utils."):
        path = os.path.join(package, *info.name.split(".")[1:])
        path += "/__init__.py" if info.ispkg else ".py"
        try:
            with open(path) as file:
                if marker in file.read():
                    importlib.import_module(info.name)
        except (OSError, ImportError):
            continue
    wrapped: dict[int, object] = {}
    for name, module in list(sys.modules.items()):
        if not (name == "course_utils" or name.startswith("course_utils.")) or module is None:
            continue
        owners = [module] + [v for v in vars(module).values()
                             if isinstance(v, type) and v.__module__ == name]
        for owner in owners:
            for attribute, value in list(vars(owner).items()):
                graded = getattr(value, "__graded_in__", None) == chapter
                if isinstance(value, types.FunctionType) and graded:
                    if id(value) not in wrapped:
                        wrapped[id(value)] = _refusing(value, chapter)
                    setattr(owner, attribute, wrapped[id(value)])


# Audit events that answers may not cause: a hook or a tracer would act while the tests run.
REFUSED_EVENTS = {"sys.addaudithook": "add an audit hook", "sys.settrace": "set a trace function",
                  "sys.setprofile": "set a profile function"}
# IPython's own names in the notebook namespace; every other name a course cell binds is kept.
SHELL_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def _audit(event: str, args: tuple) -> None:
    if event not in REFUSED_EVENTS or _state.get("restoring"):
        return
    if event == "sys.addaudithook" or not _course_code_only(sys._getframe(1)):
        _state.setdefault("refused", []).append(REFUSED_EVENTS[event])
        raise RuntimeError(f"the grader does not let answers {REFUSED_EVENTS[event]}")


def _refuse_threads() -> None:
    """Answers may not start threads: one could change what a test relies on while it runs."""
    import _thread
    import threading

    start = _thread.start_new_thread

    def start_new_thread(function, args, kwargs=None):
        if not _course_code_only(sys._getframe(1)):
            _state.setdefault("refused", []).append("start a thread")
            raise RuntimeError("the grader does not let answers start threads")
        return start(function, args, kwargs or {})

    _OWN_CODES.add(start_new_thread.__code__)
    _thread.start_new_thread = threading._start_new_thread = start_new_thread


def _interpreter_state() -> dict:
    """What else decides how a cell runs: tracing, signals, timers, gc callbacks, and the
    IPython shell's transformers, event callbacks, hooks and exception handlers."""
    import gc
    import signal
    import threading

    state = {"trace": (sys.gettrace(), sys.getprofile(), threading.gettrace(),
                       threading.getprofile()),
             "signals": {number: signal.getsignal(number) for number in signal.valid_signals()
                         if signal.getsignal(number) is not None},
             "lists": [(gc, "callbacks", gc.callbacks, list(gc.callbacks), "gc.callbacks")]}
    shells = _shell_objects()
    if shells:
        shell = shells[0][0]
        manager = shell.input_transformer_manager
        for owner, names in ((shell, ("ast_transformers", "input_transformers_post")),
                             (manager, ("cleanup_transforms", "line_transforms",
                                        "token_transformers"))):
            for name in names:
                value = getattr(owner, name)
                state["lists"].append((owner, name, value, list(value), f"IPython's {name}"))
        for event, callbacks in shell.events.callbacks.items():
            state["lists"].append((shell.events.callbacks, event, callbacks, list(callbacks),
                                   f"IPython's {event} callbacks"))
        for name, hook in vars(shell.hooks).items():
            if hasattr(hook, "chain"):
                state["lists"].append((hook, "chain", hook.chain, list(hook.chain),
                                       f"IPython's {name} hook"))
        state["shell"] = (shell, {"hooks": shell.hooks, **{name: getattr(shell, name) for name in
                                  ("custom_exceptions", "CustomTB", "displayhook", "display_pub",
                                   "display_formatter", "events")}})
    return state


def _restore_interpreter(state: dict) -> list[str]:
    import gc  # noqa: F401  (its callbacks list is in state)
    import signal
    import threading

    changed = []
    trace, profile, thread_trace, thread_profile = state["trace"]
    if sys.gettrace() is not trace or threading.gettrace() is not thread_trace:
        changed.append("the trace function (sys.settrace)")
        sys.settrace(trace)
        threading.settrace(thread_trace)
    if sys.getprofile() is not profile or threading.getprofile() is not thread_profile:
        changed.append("the profile function (sys.setprofile)")
        sys.setprofile(profile)
        threading.setprofile(thread_profile)
    for number, handler in state["signals"].items():
        if signal.getsignal(number) is not handler:
            changed.append(f"the handler of {signal.Signals(number).name}")
            signal.signal(number, handler)
    for timer in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):
        if signal.getitimer(timer) != (0.0, 0.0):
            changed.append("a timer (signal.setitimer or signal.alarm)")
            signal.setitimer(timer, 0)
    if "shell" in state:
        shell, attributes = state["shell"]
        for name, value in attributes.items():
            if getattr(shell, name) is not value:
                changed.append(f"the IPython shell's {name}")
                setattr(shell, name, value)
    for owner, name, value, items, label in state["lists"]:
        current = owner.get(name) if isinstance(owner, dict) else getattr(owner, name)
        # Installed code may add its own (matplotlib's inline backend adds a post_execute
        # callback on the first plot): kept. What student code added is taken out.
        items.extend(item for item in value if item not in items and _installed(item))
        if current is not value or value != items:
            changed.append(label)
            if isinstance(owner, dict):
                owner[name] = value
            else:
                setattr(owner, name, value)
            value[:] = items
    return changed


def _installed(obj) -> bool:
    """Whether `obj` (a callback, a transformer) is code of an installed module, not of a cell."""
    function = getattr(obj, "__func__", obj)
    code = getattr(function, "__code__", None)
    if code is not None:
        filename = code.co_filename
    else:
        module = sys.modules.get(getattr(type(obj), "__module__", ""))
        filename = getattr(module, "__file__", None) or ""
    return filename.startswith(_state["trusted"]) and filename not in _state["answer_files"]


def _notebook_names(user_ns: dict | None) -> dict:
    if user_ns is None:
        return {}
    return {name: value for name, value in user_ns.items()
            if not name.startswith("_") and name not in SHELL_NAMES}


def snapshot(chapter: str = "", answers: list[str] | None = None) -> int:
    """Record the guarded state now; return how many modules it covers.

    With `chapter`, its reference implementations refuse calls from the `answers` cells.
    """
    try:
        import course_utils.grading  # noqa: F401  (tests use it; import it before students can)
    except ImportError:
        pass
    _harden_grading()
    _state.update(answer_files=_answer_files(answers or []), trusted=_trusted_prefixes())
    if chapter:
        _protect_references(chapter)
    if not _state.get("hardened"):
        sys.addaudithook(_audit)  # audit hooks cannot be removed: once per kernel
        _refuse_threads()
        shells = _shell_objects()
        if shells:  # exit() and quit() would stop the kernel: a graded kernel keeps running
            shells[0][0].ask_exit = lambda: None
        _state["hardened"] = True
    modules = {name: module for name, module in list(sys.modules.items())
               if isinstance(module, types.ModuleType) and _is_guarded(name)}
    module_dicts = {name: dict(vars(module)) for name, module in modules.items()}
    functions = {}
    for name, namespace in module_dicts.items():
        for attribute, value in namespace.items():
            if isinstance(value, types.FunctionType) and value.__module__ == name:
                functions[(name, attribute)] = (value, _function_state(value))
    objects = []
    for obj, names in _shell_objects():
        saved = {}
        for cls in type(obj).__mro__:
            for method in names:
                if method in vars(cls) and (cls, method) not in saved:
                    saved[(cls, method)] = vars(cls)[method]
        instance = getattr(obj, "__dict__", {})
        own = {method: instance[method] for method in names if method in instance}
        objects.append((obj, names, saved, own))
    user_ns = None
    shells = _shell_objects()
    if shells:
        user_ns = shells[0][0].user_ns
    _state.update(modules=modules, module_dicts=module_dicts, functions=functions,
                  objects=objects, user_ns=user_ns, names=_notebook_names(user_ns),
                  interpreter=_interpreter_state(), refused=[],
                  sys_hooks={name: getattr(sys, name) for name in SYS_HOOKS if hasattr(sys, name)},
                  sys_path=list(sys.path), meta_path=list(sys.meta_path))
    for name, module in modules.items():
        if name.startswith("course_utils") and type(module) is types.ModuleType:
            module.__class__ = _CourseModule
    return len(modules)


def restore(keep: tuple[str, ...] | list[str] = ()) -> list[str]:
    """Put back everything recorded by `snapshot()`; return what had been changed.

    `keep` names what the course cell that just ran bound in the notebook: those values become
    the ones to put back from now on. Entries starting with "refused: " are things the guard
    refused to do for student code since the last call.
    """
    _state["restoring"] = True
    try:
        changed = _restore_modules_and_shell()
        changed += _restore_interpreter(_state["interpreter"])
        changed += _restore_names(keep)
    finally:
        _state["restoring"] = False
    refused = [f"refused: {what}" for what in dict.fromkeys(_state["refused"])]
    _state["refused"].clear()
    return sorted(set(changed)) + refused


def _restore_names(keep) -> list[str]:
    user_ns, names = _state["user_ns"], _state["names"]
    if user_ns is None:
        return []
    for name in keep:
        if name in user_ns and not name.startswith("_") and name not in SHELL_NAMES:
            names[name] = user_ns[name]
        else:
            names.pop(name, None)
    changed = []
    for name, value in names.items():
        if user_ns.get(name, _MISSING) is not value:
            changed.append(f"the notebook's name {name!r}")
            user_ns[name] = value
    return changed


def _restore_modules_and_shell() -> list[str]:
    changed = []
    for name, module in _state["modules"].items():
        if sys.modules.get(name) is not module:
            changed.append(f"sys.modules[{name!r}]")
            sys.modules[name] = module
        namespace = vars(module)
        for attribute, value in _state["module_dicts"][name].items():
            if namespace.get(attribute, _MISSING) is not value:
                if not attribute.startswith("__"):
                    changed.append(f"{name}.{attribute}")
                namespace[attribute] = value
    for (name, attribute), (function, state) in _state["functions"].items():
        if _function_state(function) != state:
            changed.append(f"{name}.{attribute}.__code__")
            function.__code__, function.__defaults__, function.__kwdefaults__ = state
    for obj, names, saved, own in _state["objects"]:
        instance = getattr(obj, "__dict__", {})
        for method in names:
            if instance.get(method, _MISSING) is own.get(method, _MISSING):
                continue
            changed.append(f"{type(obj).__name__}.{method}")
            if method in own:
                instance[method] = own[method]
            else:
                del instance[method]
        for (cls, method), value in saved.items():
            if vars(cls).get(method, _MISSING) is not value:
                changed.append(f"{cls.__name__}.{method}")
                type.__setattr__(cls, method, value)
    for name, value in _state["sys_hooks"].items():
        if getattr(sys, name, None) is not value:
            changed.append(f"sys.{name}")
            setattr(sys, name, value)
    if sys.meta_path != _state["meta_path"]:
        changed.append("sys.meta_path")
        sys.meta_path[:] = _state["meta_path"]
    user_ns = _state["user_ns"]
    if user_ns is not None and user_ns.get("__builtins__") is not builtins:
        changed.append("__builtins__")
        user_ns["__builtins__"] = builtins

    return changed
