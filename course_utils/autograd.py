"""A tiny reverse-mode automatic differentiation engine on scalars, in the spirit of micrograd.

Every arithmetic operation on `Value`s builds a node of a computational graph that remembers
its inputs and how to pass a gradient back to them (a `_backward` closure that *adds* into the
inputs' gradients: a value used twice receives the sum of both contributions).
`backward()` sorts the graph topologically and runs those closures from the output back.

    a, b = Value(2.0), Value(-3.0)
    f = (a * b + a).tanh()
    f.backward()          # a.grad = df/da, b.grad = df/db

Local derivatives used (s = sigmoid):
    a + b: 1, 1          a * b: b, a          a ** k: k a^(k-1)
    exp(a): exp(a)       log(a): 1 / a        tanh(a): 1 - tanh(a)²
    relu(a): 1 if a > 0 else 0 (0 at the kink, as in PyTorch)       sigmoid(a): s (1 - s)
Subtraction, negation and division are built from these (a - b = a + (-1) b, a / b = a b^(-1)).
"""

import math
from collections.abc import Callable
from numbers import Real

from course_utils.graded import graded_in


class Value:
    """A scalar node of a computational graph: its value `data` and the gradient `grad` of the
    output that `backward()` was called on with respect to it.

    Args:
        data: the value, a real number (stored as a float).
        children: the nodes this one was computed from (empty for an input).
        op: the operation that produced this node, for printing ("" for an input).
    """

    def __init__(self, data: float, children: tuple["Value", ...] = (), op: str = ""):
        if not isinstance(data, Real):
            raise TypeError(f"Value holds a real number, got {type(data).__name__}")
        self.data = float(data)
        self.grad = 0.0
        self._backward: Callable[[], None] = lambda: None  # set by the op that made this node
        self._prev = tuple(children)
        self._op = op

    def __repr__(self) -> str:
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    @staticmethod
    def _lift(other: "Value | float") -> "Value":
        """`other` as a Value: numbers become constant input nodes."""
        return other if isinstance(other, Value) else Value(other)

    # Primitive operations: each builds `out` and says how to pass out.grad back.

    @graded_in("ch04_backprop")
    def __add__(self, other: "Value | float") -> "Value":
        if not isinstance(other, (Value, Real)):
            return NotImplemented
        other = self._lift(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    @graded_in("ch04_backprop")
    def __mul__(self, other: "Value | float") -> "Value":
        if not isinstance(other, (Value, Real)):
            return NotImplemented
        other = self._lift(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    @graded_in("ch04_backprop")
    def __pow__(self, exponent: float) -> "Value":
        if not isinstance(exponent, Real):
            raise TypeError("the exponent must be a constant number; for a Value exponent b "
                            "write (a.log() * b).exp()")
        result = self.data**exponent
        if isinstance(result, complex):
            raise ValueError(f"{self.data:g} ** {exponent:g} is not a real number")
        out = Value(result, (self,), f"**{exponent:g}")

        def _backward() -> None:
            self.grad += exponent * self.data ** (exponent - 1) * out.grad

        out._backward = _backward
        return out

    @graded_in("ch04_backprop")
    def exp(self) -> "Value":
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward() -> None:
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    @graded_in("ch04_backprop")
    def log(self) -> "Value":
        """Natural logarithm; the value must be positive."""
        if self.data <= 0:
            raise ValueError(f"log needs a positive value, got {self.data:g}")
        out = Value(math.log(self.data), (self,), "log")

        def _backward() -> None:
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    @graded_in("ch04_backprop")
    def tanh(self) -> "Value":
        out = Value(math.tanh(self.data), (self,), "tanh")

        def _backward() -> None:
            self.grad += (1 - out.data**2) * out.grad

        out._backward = _backward
        return out

    @graded_in("ch04_backprop")
    def relu(self) -> "Value":
        out = Value(max(self.data, 0.0), (self,), "relu")

        def _backward() -> None:
            self.grad += (self.data > 0) * out.grad

        out._backward = _backward
        return out

    @graded_in("ch04_backprop")
    def sigmoid(self) -> "Value":
        # 1 / (1 + e^-x) overflows in e^-x for x << 0; e^x / (1 + e^x) is the same number there.
        if self.data >= 0:
            s = 1 / (1 + math.exp(-self.data))
        else:
            s = math.exp(self.data) / (1 + math.exp(self.data))
        out = Value(s, (self,), "sigmoid")

        def _backward() -> None:
            self.grad += s * (1 - s) * out.grad

        out._backward = _backward
        return out

    # Everything else is built from the primitives.

    def __neg__(self) -> "Value":
        return self * -1

    def __radd__(self, other: float) -> "Value":  # other + self
        return self + other

    def __sub__(self, other: "Value | float") -> "Value":
        if not isinstance(other, (Value, Real)):
            return NotImplemented
        return self + (-other)

    def __rsub__(self, other: float) -> "Value":  # other - self
        return other + (-self)

    def __rmul__(self, other: float) -> "Value":  # other * self
        return self * other

    def __truediv__(self, other: "Value | float") -> "Value":
        if not isinstance(other, (Value, Real)):
            return NotImplemented
        return self * self._lift(other) ** -1

    def __rtruediv__(self, other: float) -> "Value":  # other / self
        return other * self**-1

    # Reverse mode.

    @graded_in("ch04_backprop")
    def backward(self) -> None:
        """Compute d(self)/d(node) for every node of the graph that produced self.

        Inputs (nodes without children) accumulate: calling backward again, or on another output
        of the same inputs, adds to their .grad, as in PyTorch; set .grad = 0 to start over.
        Interior nodes start from zero at every call.
        """
        order = self._topological_order()
        for node in order:
            if node._prev:
                node.grad = 0.0
        self.grad += 1.0  # d(self)/d(self)
        for node in reversed(order):
            node._backward()

    @graded_in("ch04_backprop")
    def _topological_order(self) -> list["Value"]:
        """Every node that self depends on, each after all of its children (iterative DFS, so
        that deep graphs do not hit Python's recursion limit)."""
        order: list[Value] = []
        visited: set[int] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                order.append(node)
            elif id(node) not in visited:
                visited.add(id(node))
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev)
        return order
