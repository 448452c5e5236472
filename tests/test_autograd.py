"""The scalar autograd engine: known values, random expressions against PyTorch in float64,
gradient accumulation, and clear errors."""

import math
import random

import pytest
import torch

from course_utils.autograd import Value

BINARY = ["+", "-", "*", "/", "r+", "r-", "r*", "r/"]
UNARY = ["neg", "exp", "log", "tanh", "relu", "sigmoid", "square", "cube", "sqrt", "inverse"]


def apply(op: str, a, b=None, constant: float = 0.0):
    """One operation, written so that it applies to Values and to torch tensors alike."""
    binary = {
        "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b,
        "r+": lambda: constant + a, "r-": lambda: constant - a, "r*": lambda: constant * a,
        "r/": lambda: constant / a,
    }
    unary = {
        "neg": lambda: -a, "exp": lambda: a.exp(), "log": lambda: a.log(), "tanh": lambda: a.tanh(),
        "relu": lambda: a.relu(), "sigmoid": lambda: a.sigmoid(), "square": lambda: a**2,
        "cube": lambda: a**3, "sqrt": lambda: a**0.5, "inverse": lambda: a**-1,
    }
    return {**binary, **unary}[op]()


def allowed(op: str, a: float, b: float, constant: float) -> bool:
    """Stay away from domain errors, poles, overflow and the kink of relu."""
    if op == "/":
        return abs(b) > 0.2
    if op in ("r/", "inverse"):
        return abs(a) > 0.2
    if op in ("log", "sqrt"):
        return a > 0.2
    if op == "exp":
        return a < 5
    if op == "relu":
        return abs(a) > 1e-3
    if op in ("square", "cube", "*", "r*"):
        return abs(a) < 1e3 and (b is None or abs(b) < 1e3)
    return True


def random_expression(seed: int, num_leaves: int = 4, num_ops: int = 12):
    """A random expression graph over a few leaves, built twice: with Values and with torch
    float64 tensors. Intermediate nodes are reused, so gradients must add up at forks."""
    rng = random.Random(seed)
    start = [rng.uniform(-2, 2) for _ in range(num_leaves)]
    values = [Value(x) for x in start]
    tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in start]
    leaves = (values[:], tensors[:])
    for _ in range(num_ops):
        for _ in range(100):
            op = rng.choice(BINARY + UNARY)
            i, j = rng.randrange(len(values)), rng.randrange(len(values))
            constant = rng.choice([-2.5, -1.0, 0.5, 3.0])
            b_value = values[j].data if op in ("+", "-", "*", "/") else None
            if allowed(op, values[i].data, b_value, constant):
                break
        if op in ("+", "-", "*", "/"):
            values.append(apply(op, values[i], values[j]))
            tensors.append(apply(op, tensors[i], tensors[j]))
        else:
            values.append(apply(op, values[i], constant=constant))
            tensors.append(apply(op, tensors[i], constant=constant))
    # The output uses the last few nodes, so that most of the graph matters.
    out_value = values[-1] + values[-2] * values[-3]
    out_tensor = tensors[-1] + tensors[-2] * tensors[-3]
    return out_value, out_tensor, leaves


@pytest.mark.parametrize("seed", range(60))
def test_random_expressions_match_pytorch(seed):
    out_value, out_tensor, (value_leaves, tensor_leaves) = random_expression(seed)
    out_value.backward()
    out_tensor.backward()
    assert out_value.data == pytest.approx(out_tensor.item(), rel=1e-12, abs=1e-12)
    for v, t in zip(value_leaves, tensor_leaves, strict=True):
        expected = 0.0 if t.grad is None else t.grad.item()
        assert v.grad == pytest.approx(expected, rel=1e-9, abs=1e-12), f"seed {seed}"


def test_micrograd_readme_example():
    # The expression from micrograd's README, checked there against PyTorch.
    a, b = Value(-4.0), Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    assert g.data == pytest.approx(24.7041, abs=1e-4)
    assert a.grad == pytest.approx(138.8338, abs=1e-4)
    assert b.grad == pytest.approx(645.5773, abs=1e-4)


def test_lecture_example_sigmoid_neuron():
    # Lecture 4: f(w, x) = σ(w0 x0 + w1 x1 + w2) at w = (2, -3, -3), x = (-1, -2).
    w0, x0, w1, x1, w2 = Value(2.0), Value(-1.0), Value(-3.0), Value(-2.0), Value(-3.0)
    f = (w0 * x0 + w1 * x1 + w2).sigmoid()
    f.backward()
    assert f.data == pytest.approx(0.7311, abs=1e-4)
    assert [w0.grad, x0.grad, w1.grad, x1.grad, w2.grad] == pytest.approx(
        [-0.1966, 0.3932, -0.3932, -0.5898, 0.1966], abs=1e-4)


@pytest.mark.parametrize("x", [-800.0, -30.0, 0.0, 30.0, 800.0])
def test_sigmoid_is_stable_and_matches_pytorch(x):
    v = Value(x)
    s = v.sigmoid()
    s.backward()
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    torch.sigmoid(t).backward()
    assert s.data == pytest.approx(torch.sigmoid(t).item(), rel=1e-12, abs=1e-300)
    assert v.grad == pytest.approx(t.grad.item(), rel=1e-12, abs=1e-300)


def test_relu_gradient_at_zero_is_zero_like_pytorch():
    a = Value(0.0)
    a.relu().backward()
    assert a.grad == 0.0


# Accumulation


def test_gradients_add_up_when_a_node_is_reused():
    a = Value(3.0)
    (a + a).backward()
    assert a.grad == 2.0
    b = Value(3.0)
    (b * b).backward()
    assert b.grad == 6.0
    c = Value(0.5)
    h = c.tanh()  # an interior node used three times
    (h * h + h).backward()
    assert c.grad == pytest.approx((2 * math.tanh(0.5) + 1) * (1 - math.tanh(0.5) ** 2))


def test_backward_twice_accumulates_on_inputs_like_pytorch():
    a, b = Value(1.5), Value(-0.5)
    out = (a * b).tanh() + a
    out.backward()
    first = (a.grad, b.grad)
    out.backward()
    assert (a.grad, b.grad) == pytest.approx((2 * first[0], 2 * first[1]))
    ta = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(-0.5, dtype=torch.float64, requires_grad=True)
    tout = (ta * tb).tanh() + ta
    tout.backward(retain_graph=True)
    tout.backward()
    assert (a.grad, b.grad) == pytest.approx((ta.grad.item(), tb.grad.item()), rel=1e-12)


def test_deep_graph_does_not_hit_the_recursion_limit():
    x = Value(0.001)
    total = Value(0.0)
    for _ in range(5000):
        total = total + x
    total.backward()
    assert x.grad == 5000.0


def test_backward_on_an_input_gives_one():
    a = Value(2.0)
    a.backward()
    assert a.grad == 1.0


# Errors


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(TypeError, match="real number"):
        Value("3")
    with pytest.raises(TypeError, match="constant"):
        Value(2.0) ** Value(3.0)
    with pytest.raises(ValueError, match="positive"):
        Value(-1.0).log()
    with pytest.raises(ValueError, match="not a real number"):
        Value(-2.0) ** 0.5
    with pytest.raises(TypeError):
        Value(1.0) + "a"
