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
                    "_course_guard")
SYS_HOOKS = ("stdout", "stderr", "displayhook", "excepthook", "settrace", "setprofile",
             "breakpointhook")
# Shell and kernel methods that decide whether a cell's error is reported.
SHELL_METHODS = ("showtraceback", "_showtraceback", "showsyntaxerror", "showindentationerror",
                 "run_cell", "run_cell_async", "run_code", "run_ast_nodes", "transform_cell",
                 "user_expressions", "ex", "ev", "excepthook", "get_exception_only",
                 "_get_exc_info", "_run_cell", "should_run_async", "run_line_magic")
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
                  objects=objects, user_ns=user_ns,
                  sys_hooks={name: getattr(sys, name) for name in SYS_HOOKS if hasattr(sys, name)},
                  sys_path=list(sys.path), meta_path=list(sys.meta_path))
    for name, module in modules.items():
        if name.startswith("course_utils") and type(module) is types.ModuleType:
            module.__class__ = _CourseModule
    return len(modules)


def restore() -> list[str]:
    """Put back everything recorded by `snapshot()`; return the names that had been changed."""
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
    return sorted(set(changed))

