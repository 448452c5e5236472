"""Marks reference implementations that a chapter asks students to write.

The student bundle leaves out the body of every function marked for a chapter that is still
open for grading (it raises NotImplementedError naming the chapter instead), so students cannot
import the answer. At run time the mark only records the chapter on the function.
"""

from collections.abc import Callable
from typing import TypeVar

Function = TypeVar("Function", bound=Callable)


def graded_in(chapter: str) -> Callable[[Function], Function]:
    """Record that `chapter` (for example "ch02_image_classification") grades this function."""

    def mark(function: Function) -> Function:
        function.__graded_in__ = chapter
        return function

    return mark
