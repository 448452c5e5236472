"""Speed comparisons, measured side by side in one run: `make bench` (not a pytest file).

Usage: python tests/bench.py [NAME ...]   (no name: every benchmark; --list shows the names)

Each benchmark is a function in BENCHMARKS that prints its own table; add a chapter's
benchmark by writing one more function and registering it there.
"""

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import pairwise_distances

from course_utils import conv_layers, data, fast_layers, losses, normalization, runtime
from course_utils.models.knn import (
    compute_distances_no_loops,
    compute_distances_one_loop,
    compute_distances_two_loops,
)


def best_time(function: Callable[[], object], repeat: int) -> tuple[float, object]:
    """The fastest of `repeat` calls in seconds, and the result of the last call."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def print_table(title: str, rows: list[tuple[str, float, float]], baseline: str) -> None:
    """Rows of (name, seconds, max |difference| from the baseline's result)."""
    reference = dict((name, seconds) for name, seconds, _ in rows)[baseline]
    print(title)
    print(f"  {'version':<32}{'seconds':>10}{'speed-up':>11}{'max |diff|':>13}")
    for name, seconds, difference in rows:
        print(f"  {name:<32}{seconds:>10.4f}{reference / seconds:>10.1f}x{difference:>13.2e}")
    print(f"  speed-up = seconds of {baseline} / seconds of the version\n")


def bench_ch02_distances(num_test: int = 200, num_train: int = 2000, repeat: int = 5) -> None:
    """Chapter 2: L2 distances between MNIST rows, three NumPy versions and two libraries."""
    x_train, _, x_test, _ = data.load_mnist(flatten=True)
    x_train = x_train[:num_train].astype(np.float64)
    x_test = x_test[:num_test].astype(np.float64)
    train_t, test_t = torch.from_numpy(x_train), torch.from_numpy(x_test)
    versions = {
        "compute_distances_two_loops": (lambda: compute_distances_two_loops(x_test, x_train), 1),
        "compute_distances_one_loop": (lambda: compute_distances_one_loop(x_test, x_train), repeat),
        "compute_distances_no_loops": (lambda: compute_distances_no_loops(x_test, x_train), repeat),
        "sklearn pairwise_distances": (lambda: pairwise_distances(x_test, x_train), repeat),
        "torch.cdist (float64)": (lambda: torch.cdist(test_t, train_t).numpy(), repeat),
    }
    timings, results = {}, {}
    for name, (function, times) in versions.items():
        timings[name], results[name] = best_time(function, times)
    baseline = "compute_distances_two_loops"
    rows = [(name, timings[name], float(np.abs(results[name] - results[baseline]).max()))
            for name in versions]
    print_table(f"ch02 distances: {num_test} test x {num_train} train MNIST rows (784 float64), "
                f"L2, best of {repeat} (two loops: one run)", rows, baseline)


def bench_ch03_losses(num_examples: int = 500, repeat: int = 5) -> None:
    """Chapter 3: SVM and softmax loss with gradient, naive loops against vectorized."""
    x_train, y_train, _, _ = data.load_mnist(flatten=True)
    X = np.hstack([x_train[:num_examples] / 255.0, np.ones((num_examples, 1))])
    y = y_train[:num_examples]
    W = np.random.default_rng(0).standard_normal((X.shape[1], 10)) * 1e-3
    for loss in ("svm", "softmax"):
        naive = getattr(losses, f"{loss}_loss_naive")
        vectorized = getattr(losses, f"{loss}_loss_vectorized")
        timings, results = {}, {}
        versions = {f"{loss}_loss_naive": naive, f"{loss}_loss_vectorized": vectorized}
        for name, function in versions.items():
            timings[name], results[name] = best_time(partial(function, W, X, y, 1e-4), repeat)
        baseline = f"{loss}_loss_naive"
        rows = [(name, timings[name], float(np.abs(results[name][1] - results[baseline][1]).max()))
                for name in timings]
        print_table(f"ch03 {loss} loss and gradient: {num_examples} MNIST rows (785 float64), "
                    f"10 classes, best of {repeat}; max |diff| of the gradients", rows, baseline)


def bench_ch05_conv_pool(repeat: int = 5) -> None:
    """Chapter 5: forward + backward of conv and pooling, naive loops vs fast NumPy vs torch."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 3, 32, 32))
    w, b = rng.standard_normal((16, 3, 5, 5)), rng.standard_normal(16)
    conv, pool = {"stride": 1, "pad": 2}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    dout_conv = rng.standard_normal((20, 16, 32, 32))
    dout_pool = rng.standard_normal((20, 3, 16, 16))

    def torch_gradient(forward: Callable[..., torch.Tensor], dout: np.ndarray,
                       *arrays: np.ndarray) -> np.ndarray:
        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
        forward(*tensors).backward(torch.from_numpy(dout))
        return tensors[0].grad.numpy()

    layers = {
        "conv 16 filters 5x5, pad 2": {
            "naive": lambda: conv_layers.conv_backward_naive(
                dout_conv, conv_layers.conv_forward_naive(x, w, b, conv)[1])[0],
            "fast": lambda: fast_layers.conv_backward_fast(
                dout_conv, fast_layers.conv_forward_fast(x, w, b, conv)[1])[0],
            "torch": lambda: torch_gradient(lambda *t: F.conv2d(*t, padding=2),
                                            dout_conv, x, w, b)},
        "max pool 2x2, stride 2": {
            "naive": lambda: conv_layers.max_pool_backward_naive(
                dout_pool, conv_layers.max_pool_forward_naive(x, pool)[1]),
            "fast": lambda: fast_layers.max_pool_backward_fast(
                dout_pool, fast_layers.max_pool_forward_fast(x, pool)[1]),
            "torch": lambda: torch_gradient(lambda t: F.max_pool2d(t, 2), dout_pool, x)},
        "avg pool 2x2, stride 2": {
            "naive": lambda: conv_layers.avg_pool_backward_naive(
                dout_pool, conv_layers.avg_pool_forward_naive(x, pool)[1]),
            "fast": lambda: fast_layers.avg_pool_backward_fast(
                dout_pool, fast_layers.avg_pool_forward_fast(x, pool)[1]),
            "torch": lambda: torch_gradient(lambda t: F.avg_pool2d(t, 2), dout_pool, x)},
    }
    for layer, versions in layers.items():
        timings, results = {}, {}
        for name, function in versions.items():
            timings[name], results[name] = best_time(function, 1 if name == "naive" else repeat)
        rows = [(name, timings[name], float(np.abs(results[name] - results["naive"]).max()))
                for name in versions]
        print_table(f"ch05 {layer}: forward + backward, x (20, 3, 32, 32) float64, best of "
                    f"{repeat} (naive: one run); max |diff| of dx", rows, "naive")


def bench_ch07_batchnorm_backward(shape: tuple[int, int] = (4096, 1024), repeat: int = 10) -> None:
    """Chapter 7: batch-norm backward, the step-by-step graph against the closed form."""
    rng = np.random.default_rng(0)
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    _, cache = normalization.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    versions = {"batchnorm_backward": normalization.batchnorm_backward,
                "batchnorm_backward_alt": normalization.batchnorm_backward_alt}
    timings, results = {}, {}
    for name, backward in versions.items():
        timings[name], results[name] = best_time(partial(backward, dout, cache), repeat)
    baseline = "batchnorm_backward"
    rows = [(name, timings[name], float(np.abs(results[name][0] - results[baseline][0]).max()))
            for name in versions]
    print_table(f"ch07 batch-norm backward: x {shape} float64, best of {repeat}; max |diff| of dx",
                rows, baseline)


def bench_autograde() -> None:
    """Instructors: serial `nbgrader autograde` against the parallel sandboxed `make autograde`."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the instructor package
    from instructor.bench_autograde import run

    run()


BENCHMARKS: dict[str, Callable[[], None]] = {
    "ch02_distances": bench_ch02_distances,
    "ch03_losses": bench_ch03_losses,
    "ch05_conv_pool": bench_ch05_conv_pool,
    "ch07_batchnorm_backward": bench_ch07_batchnorm_backward,
    "autograde": bench_autograde,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(BENCHMARKS))
        return
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; "
                     f"choose from {', '.join(BENCHMARKS)}")
    report = runtime.environment_report()
    print(", ".join(f"{key} {value}" for key, value in report.items()) + "\n")
    for name in args.names or BENCHMARKS:
        BENCHMARKS[name]()


if __name__ == "__main__":
    main()
