"""Weight initialization schemes and the activation-statistics experiment of the CS231n notes.

A uniform bound k, W ~ U(-k, k), has variance k² / 3 (not k²). Xavier keeps Var(W) = 1 / D_in;
Kaiming (He) keeps Var(W) = 2 / D_in for ReLU, i.e. std sqrt(2 / D_in) (the notes print sqrt(2D)).
"""

import numpy as np

Array = np.ndarray

ACTIVATIONS = {
    "tanh": np.tanh,
    "relu": lambda a: np.maximum(a, 0),
    "sigmoid": lambda a: 1 / (1 + np.exp(-a)),
}


def uniform(fan_in: int, fan_out: int, k: float, rng: np.random.Generator) -> Array:
    """W ~ U(-k, k), shape (fan_in, fan_out); std = k / sqrt(3)."""
    if not k > 0:
        raise ValueError(f"the bound k must be > 0, got {k}")
    return rng.uniform(-k, k, size=(fan_in, fan_out))


def xavier(fan_in: int, fan_out: int, rng: np.random.Generator) -> Array:
    """Gaussian with std sqrt(1 / fan_in) (the notes' Xavier), shape (fan_in, fan_out)."""
    return rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)


def kaiming(fan_in: int, fan_out: int, rng: np.random.Generator) -> Array:
    """Gaussian with std sqrt(2 / fan_in) (He et al. 2015, for ReLU), shape (fan_in, fan_out)."""
    return rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)


def make_weights(scheme: str, fan_in: int, fan_out: int, rng: np.random.Generator,
                 scale: float | None = None) -> Array:
    """Weights by name: "uniform" (bound `scale`), "gaussian" (std `scale`), "xavier", "kaiming"."""
    if scheme == "uniform":
        return uniform(fan_in, fan_out, scale, rng)
    if scheme == "gaussian":
        return scale * rng.standard_normal((fan_in, fan_out))
    if scheme == "xavier":
        return xavier(fan_in, fan_out, rng)
    if scheme == "kaiming":
        return kaiming(fan_in, fan_out, rng)
    raise ValueError(f'scheme must be "uniform", "gaussian", "xavier" or "kaiming", got {scheme!r}')


def layer_activations(scheme: str, activation: str = "tanh", scale: float | None = None,
                      num_layers: int = 6, width: int = 500, num_examples: int = 500,
                      seed: int = 0) -> list[Array]:
    """Forward unit-Gaussian data through a deep net without biases and return each layer's output.

    Args:
        scheme, scale: as for make_weights.
        activation: "tanh", "relu" or "sigmoid".
        num_layers: number of hidden layers; width: units per layer (and input dimension).
        num_examples: rows of the input batch.
        seed: seed of the generator for the data and the weights.

    Returns:
        num_layers arrays of shape (num_examples, width).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((num_examples, width))
    outputs = []
    for _ in range(num_layers):
        h = ACTIVATIONS[activation](h @ make_weights(scheme, width, width, rng, scale))
        outputs.append(h)
    return outputs


def plot_layer_histograms(outputs: list[Array], title: str = "", axes=None):
    """One histogram of activations per layer on a common value range (so shrinking shows), with
    each layer's mean and std in the subplot title."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, len(outputs), figsize=(2.2 * len(outputs), 2.0), sharey=True)
    value_range = (min(h.min() for h in outputs), max(h.max() for h in outputs))
    for i, (ax, h) in enumerate(zip(axes, outputs, strict=True)):
        ax.hist(h.ravel(), bins=40, range=value_range)
        ax.set_title(f"layer {i + 1}\nmean {h.mean():.2f} std {h.std():.2f}", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].figure.suptitle(title, fontsize=10)
    axes[0].figure.tight_layout()
    return axes[0].figure
