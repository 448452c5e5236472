"""Benchmark of chapter 5: naive vs fast (NumPy) vs PyTorch convolution and pooling, one run."""

import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from course_utils import conv_layers, fast_layers


def _seconds(function: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def bench_ch05_conv() -> None:
    """Print seconds and speed-ups of forward + backward for conv and max pool on the same data."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3, 32, 32))
    w, b = rng.normal(size=(32, 3, 5, 5)), rng.normal(size=32)
    conv, pool = {"stride": 1, "pad": 2}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    dout_conv = rng.normal(size=(50, 32, 32, 32))
    dout_pool = rng.normal(size=(50, 3, 16, 16))

    def torch_conv() -> None:
        xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        F.conv2d(xt, wt, bt, padding=2).backward(torch.tensor(dout_conv))

    def torch_pool() -> None:
        xt = torch.tensor(x, requires_grad=True)
        F.max_pool2d(xt, 2, 2).backward(torch.tensor(dout_pool))

    rows = {
        "conv": (lambda: conv_layers.conv_backward_naive(dout_conv, conv_layers.conv_forward_naive(x, w, b, conv)[1]),
                 lambda: fast_layers.conv_backward_fast(dout_conv, fast_layers.conv_forward_fast(x, w, b, conv)[1]),
                 torch_conv),
        "max pool": (lambda: conv_layers.max_pool_backward_naive(dout_pool, conv_layers.max_pool_forward_naive(x, pool)[1]),
                     lambda: fast_layers.max_pool_backward_fast(dout_pool, fast_layers.max_pool_forward_fast(x, pool)[1]),
                     torch_pool),
    }
    print("ch05 forward+backward, x (50, 3, 32, 32), float64; conv 32 filters 5x5 pad 2; pool 2x2/2")
    print(f"{'layer':<10}{'naive s':>10}{'fast s':>10}{'torch s':>10}{'naive/fast':>12}{'fast/torch':>12}")
    for name, (naive, fast, reference) in rows.items():
        t_naive, t_fast, t_torch = _seconds(naive, 1), _seconds(fast), _seconds(reference)
        print(f"{name:<10}{t_naive:>10.4f}{t_fast:>10.4f}{t_torch:>10.4f}"
              f"{t_naive / t_fast:>11.1f}x{t_fast / t_torch:>11.1f}x")


if __name__ == "__main__":
    bench_ch05_conv()
