"""Remove the reference implementations of open chapters from course_utils sources (AST based).

A function decorated `@graded_in("chNN_topic")` keeps its signature, decorators and docstring;
its body becomes `raise NotImplementedError("written in chNN_topic ...")`. The rest of the file
is left byte for byte, comments included.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass(frozen=True)
class GradedFunction:
    """A function marked for a chapter, and where its body lies (1-based, inclusive lines)."""

    name: str
    chapter: str
    body_start: int
    body_end: int
    indent: str


def graded_chapter(decorator: ast.expr) -> str | None:
    """The chapter of a `graded_in("...")` / `graded.graded_in("...")` decorator, else None."""
    if not isinstance(decorator, ast.Call) or not decorator.args:
        return None
    func = decorator.func
    name = getattr(func, "id", None) or getattr(func, "attr", None)
    argument = decorator.args[0]
    if name == "graded_in" and isinstance(argument, ast.Constant) \
            and isinstance(argument.value, str):
        return argument.value
    return None


def graded_functions(source: str) -> list[GradedFunction]:
    """Every function (methods included) marked @graded_in in `source`."""
    found = []
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        chapters = [c for c in map(graded_chapter, node.decorator_list) if c]
        if not chapters:
            continue
        body = node.body
        if (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            body = body[1:]  # keep the docstring
        first = body[0] if body else node.body[0]
        if first.lineno == node.lineno:
            raise ValueError(f"{node.name}: put the body of a @graded_in function on its own lines")
        start = first.lineno if body else node.body[0].end_lineno + 1
        line = lines[first.lineno - 1]
        indent = line[: len(line) - len(line.lstrip())]
        found.append(GradedFunction(node.name, chapters[0], start, node.end_lineno, indent))
    return found


def strip_source(source: str, chapters: set[str]) -> tuple[str, list[GradedFunction]]:
    """`source` with the bodies of functions graded in `chapters` replaced; and those functions."""
    lines = source.splitlines(keepends=True)
    stripped = [f for f in graded_functions(source) if f.chapter in chapters]
    for function in sorted(stripped, key=lambda f: f.body_start, reverse=True):
        stub = (f'{function.indent}raise NotImplementedError("written in {function.chapter}: '
                f'{function.name} is yours to implement in that chapter\'s notebook")\n')
        lines[function.body_start - 1: function.body_end] = [stub]
    result = "".join(lines)
    ast.parse(result)  # the stub must leave valid Python
    return result, stripped
