"""Update rules on 2-D functions: the paths they take, plotted, and a widget to steer them.

    path = run_optimizer("ravine", "sgd_momentum", {"learning_rate": 0.1}, steps=100)
    figure = plot_trajectories("saddle", ["sgd", "adam"], noise=0.1)
    optimizer_widget()   # in a notebook

Functions (each f(p) for points p of shape (..., 2), with its gradient):
- ravine: f = 0.05 x² + 2 y², an ill-conditioned quadratic (curvatures 0.1 and 4, condition
  number 40): steep across the valley, flat along it.
- saddle: f = x² + y⁴/4 - y²/2, a saddle point at (0, 0) between two minima at (0, ±1).
- rosenbrock: f = (1 - x)² + 100 (y - x²)², a curved narrow valley with its minimum at (1, 1).
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

from course_utils import optim

Array = np.ndarray
Rule = Callable[[Array, Array, dict | None], tuple[Array, dict]]
# A path is cut (the rest filled with nan) once it leaves this radius: the optimizer diverged.
_DIVERGED = 1e6
# Rules whose step scales with the gradient, and those that normalise it (their learning rate is
# roughly a step length): the widget gives each family its own learning rate.
GRADIENT_SCALED = ("sgd", "sgd_momentum", "nesterov_momentum")
ADAPTIVE = ("adagrad", "rmsprop", "adam", "adam_simple")


@dataclass(frozen=True)
class Surface:
    """A 2-D function to minimise, with what is needed to plot it.

    Attributes:
        name: short name.
        value: f(p) for points of shape (..., 2), returns shape (...).
        gradient: ∇f(p), same shape as p.
        start: default starting point.
        minimum: lowest value of f (for plotting f - f_min).
        minimizers: the points where f takes that value.
        bounds: plot window (x_min, x_max, y_min, y_max).
        learning_rate: a good default for SGD-like rules here.
        adaptive_learning_rate: a good default for AdaGrad, RMSProp and Adam here.
        steps: a good default number of steps.
    """

    name: str
    value: Callable[[Array], Array]
    gradient: Callable[[Array], Array]
    start: tuple[float, float]
    minimum: float
    minimizers: tuple[tuple[float, float], ...]
    bounds: tuple[float, float, float, float]
    learning_rate: float
    adaptive_learning_rate: float
    steps: int


def _ravine(p: Array) -> Array:
    return 0.05 * p[..., 0] ** 2 + 2.0 * p[..., 1] ** 2


def _ravine_gradient(p: Array) -> Array:
    return np.stack([0.1 * p[..., 0], 4.0 * p[..., 1]], axis=-1)


def _saddle(p: Array) -> Array:
    x, y = p[..., 0], p[..., 1]
    return x**2 + y**4 / 4 - y**2 / 2


def _saddle_gradient(p: Array) -> Array:
    x, y = p[..., 0], p[..., 1]
    return np.stack([2 * x, y**3 - y], axis=-1)


def _rosenbrock(p: Array) -> Array:
    x, y = p[..., 0], p[..., 1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _rosenbrock_gradient(p: Array) -> Array:
    x, y = p[..., 0], p[..., 1]
    return np.stack([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)], axis=-1)


SURFACES = {
    "ravine": Surface("ravine", _ravine, _ravine_gradient, start=(-4.5, 1.0), minimum=0.0,
                      minimizers=((0.0, 0.0),), bounds=(-5.0, 5.0, -1.5, 1.5),
                      learning_rate=0.45, adaptive_learning_rate=0.1, steps=100),
    "saddle": Surface("saddle", _saddle, _saddle_gradient, start=(1.5, 1e-3), minimum=-0.25,
                      minimizers=((0.0, -1.0), (0.0, 1.0)), bounds=(-2.0, 2.0, -1.6, 1.6),
                      learning_rate=0.1, adaptive_learning_rate=0.05, steps=100),
    "rosenbrock": Surface("rosenbrock", _rosenbrock, _rosenbrock_gradient, start=(-1.2, 1.0),
                          minimum=0.0, minimizers=((1.0, 1.0),), bounds=(-2.0, 2.0, -1.0, 3.0),
                          learning_rate=1e-3, adaptive_learning_rate=0.02, steps=500),
}


def _surface(function: str | Surface) -> Surface:
    if isinstance(function, Surface):
        return function
    if function not in SURFACES:
        raise ValueError(f"unknown function {function!r}: choose one of {sorted(SURFACES)}")
    return SURFACES[function]


def _rule(rule: str | Rule) -> Rule:
    if callable(rule):
        return rule
    if rule not in optim.RULES:
        raise ValueError(f"unknown update rule {rule!r}: choose one of {sorted(optim.RULES)}")
    return optim.RULES[rule]


def run_optimizer(function: str | Surface, rule: str | Rule, config: dict | None = None,
                  start: Sequence[float] | None = None, steps: int = 100, noise: float = 0.0,
                  seed: int = 0) -> Array:
    """Minimise a 2-D function with an update rule and record the path.

    Args:
        function: a name in SURFACES or a Surface.
        rule: a name in course_utils.optim.RULES or a rule(w, dw, config) -> (next_w, config).
        config: the rule's first config (hyperparameters); None for the rule's defaults.
        start: starting point (x, y); None for the function's default.
        steps: number of updates, >= 0.
        noise: standard deviation of Gaussian noise added to every gradient (a stand-in for
            minibatch noise), >= 0.
        seed: seed of the noise.

    Returns:
        path: shape (steps + 1, 2), path[0] = start, path[t] the point after t updates. If the
        rule diverges (a point leaves radius 1e6 or is not finite), the rest is nan.
    """
    surface, update = _surface(function), _rule(rule)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    w = np.array(surface.start if start is None else start, dtype=np.float64)
    if w.shape != (2,):
        raise ValueError(f"start must be a point (x, y), got shape {w.shape}")
    rng = np.random.default_rng(seed)
    path = np.full((steps + 1, 2), np.nan)
    path[0] = w
    config = dict(config or {})
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            dw = surface.gradient(w) + noise * rng.standard_normal(2)
            w, config = update(w, dw, config)
            if not np.all(np.isfinite(w)) or np.abs(w).max() > _DIVERGED:
                break
            path[t] = w
    return path


def rule_config(name: str, learning_rate: float, adaptive_learning_rate: float,
                momentum: float = 0.9, decay_rate: float = 0.99) -> dict:
    """The first config of rule `name` from the playground's knobs.

    SGD-like rules get `learning_rate`, the adaptive ones `adaptive_learning_rate`; `momentum` is
    the momentum of (Nesterov) momentum and Adam's β1, `decay_rate` is RMSProp's decay and
    Adam's β2.
    """
    if name in GRADIENT_SCALED:
        config = {"learning_rate": learning_rate}
        if name != "sgd":
            config["momentum"] = momentum
        return config
    if name not in ADAPTIVE:
        raise ValueError(f"unknown update rule {name!r}: choose from {GRADIENT_SCALED + ADAPTIVE}")
    config = {"learning_rate": adaptive_learning_rate}
    if name == "rmsprop":
        config["decay_rate"] = decay_rate
    elif name != "adagrad":
        config.update(beta1=momentum, beta2=decay_rate)
    return config


def plot_trajectories(function: str = "ravine",
                      rules: Sequence[str] | Mapping[str, Rule] = ("sgd", "sgd_momentum", "adam"),
                      learning_rate: float | None = None,
                      adaptive_learning_rate: float | None = None, momentum: float = 0.9,
                      decay_rate: float = 0.99, steps: int | None = None, noise: float = 0.0,
                      seed: int = 0) -> plt.Figure:
    """Paths of several update rules on one function: contour plot and f - f_min per step.

    Args:
        function: a name in SURFACES.
        rules: names in course_utils.optim.RULES, or a mapping from such names to rules (for
            example your own implementations); the name decides which knobs the rule gets.
        learning_rate: for SGD-like rules; None for the function's default.
        adaptive_learning_rate: for AdaGrad, RMSProp and Adam; None for the function's default.
        momentum: momentum and Adam's β1.
        decay_rate: RMSProp's decay and Adam's β2.
        steps: number of updates; None for the function's default.
        noise: standard deviation of the gradient noise.
        seed: seed of the noise (the same noise for every rule).

    Returns:
        The figure (two axes: paths on the contours, and f(w_t) - f_min on a log scale).
    """
    surface = _surface(function)
    if learning_rate is None:
        learning_rate = surface.learning_rate
    if adaptive_learning_rate is None:
        adaptive_learning_rate = surface.adaptive_learning_rate
    steps = surface.steps if steps is None else steps
    rules = dict(rules) if isinstance(rules, Mapping) else {name: _rule(name) for name in rules}
    figure, (paths_axis, loss_axis) = plt.subplots(1, 2, figsize=(11, 4.2), width_ratios=(1.4, 1))
    x_min, x_max, y_min, y_max = surface.bounds
    grid = np.stack(np.meshgrid(np.linspace(x_min, x_max, 200), np.linspace(y_min, y_max, 200)),
                    axis=-1)
    heights = surface.value(grid) - surface.minimum
    levels = np.geomspace(max(heights.min(), 1e-3), heights.max(), 20)
    paths_axis.contour(grid[..., 0], grid[..., 1], heights, levels=levels, cmap="Greys",
                       linewidths=0.7)
    for name, rule in rules.items():
        config = rule_config(name, learning_rate, adaptive_learning_rate, momentum, decay_rate)
        path = run_optimizer(surface, rule, config, steps=steps, noise=noise, seed=seed)
        line, = paths_axis.plot(path[:, 0], path[:, 1], ".-", markersize=2, linewidth=1, label=name)
        distance = surface.value(path) - surface.minimum + 1e-12  # + tiny: a log scale shows 0
        loss_axis.plot(distance, color=line.get_color(), label=name)
    paths_axis.plot(*surface.start, "k*", markersize=10)
    paths_axis.plot(*np.array(surface.minimizers).T, "kx", markersize=10)
    paths_axis.set(xlim=(x_min, x_max), ylim=(y_min, y_max), title=f"{surface.name}: paths",
                   xlabel="x", ylabel="y")
    loss_axis.set(yscale="log", xlabel="step", ylabel="f(w) - f_min",
                  title="distance to the minimum value")
    loss_axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def _default_selection(rules: Mapping[str, Rule]) -> tuple[str, ...]:
    preferred = tuple(name for name in ("sgd", "sgd_momentum", "adam") if name in rules)
    return preferred or tuple(list(rules)[:1])


def optimizer_widget(rules: Mapping[str, Rule] | None = None):
    """An ipywidgets panel: choose the function, the rules and their knobs; the plot redraws.

    Args:
        rules: the rules to choose from, by name (names as in course_utils.optim.RULES); None for
            course_utils.optim.RULES.

    Returns:
        An ipywidgets.VBox to display in a notebook.
    """
    import ipywidgets as widgets
    from IPython.display import display

    rules = dict(optim.RULES if rules is None else rules)
    for name in rules:
        rule_config(name, 1.0, 1.0)  # fails early for a name the knobs cannot be routed to
    knob = {"style": {"description_width": "150px"}, "layout": widgets.Layout(width="420px")}
    controls = {
        "function": widgets.Dropdown(options=list(SURFACES), value="ravine",
                                     description="function"),
        "rules": widgets.SelectMultiple(options=list(rules), value=_default_selection(rules),
                                        rows=7, description="update rules"),
        "learning_rate": widgets.FloatLogSlider(value=SURFACES["ravine"].learning_rate, base=10,
                                                min=-4, max=0.5, step=0.1,
                                                description="lr (SGD, momentum)", **knob),
        "adaptive_learning_rate": widgets.FloatLogSlider(
            value=SURFACES["ravine"].adaptive_learning_rate, base=10, min=-3, max=0, step=0.1,
            description="lr (adaptive)", **knob),
        "momentum": widgets.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01,
                                        description="momentum ρ / β1", **knob),
        "decay_rate": widgets.FloatSlider(value=0.99, min=0.5, max=0.999, step=0.001,
                                          readout_format=".3f", description="decay ρ / β2", **knob),
        "steps": widgets.IntSlider(value=SURFACES["ravine"].steps, min=10, max=1000, step=10,
                                   description="steps", **knob),
        "noise": widgets.FloatSlider(value=0.0, min=0.0, max=2.0, step=0.05,
                                     description="gradient noise", **knob),
    }

    def use_function_defaults(change: dict) -> None:
        surface = SURFACES[change["new"]]
        controls["learning_rate"].value = surface.learning_rate
        controls["adaptive_learning_rate"].value = surface.adaptive_learning_rate
        controls["steps"].value = surface.steps

    def draw(**values) -> None:
        chosen = {name: rules[name] for name in values.pop("rules")}
        figure = plot_trajectories(rules=chosen, **values)
        display(figure)
        plt.close(figure)

    controls["function"].observe(use_function_defaults, names="value")
    output = widgets.interactive_output(draw, controls)
    left = widgets.VBox([controls["function"], controls["rules"]])
    right = widgets.VBox([controls[name] for name in list(controls)[2:]])
    return widgets.VBox([widgets.HBox([left, right]), output])
