"""2-D playground: gradients of the test functions, the path runner, the plot and the widget."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils import optim  # noqa: E402
from course_utils.gradcheck import numerical_gradient, relative_error  # noqa: E402
from course_utils.optimizer_playground import (  # noqa: E402
    SURFACES,
    optimizer_widget,
    plot_trajectories,
    rule_config,
    run_optimizer,
)


@pytest.mark.parametrize("name", SURFACES)
def test_gradient_matches_numerical_at_random_points(name):
    surface = SURFACES[name]
    for point in np.random.default_rng(0).uniform(-1.5, 1.5, size=(5, 2)):
        numeric = numerical_gradient(lambda p: surface.value(p), point.copy())
        assert relative_error(surface.gradient(point), numeric) < 1e-7


@pytest.mark.parametrize("name", SURFACES)
def test_minimizers_have_zero_gradient_and_the_minimum_value(name):
    surface = SURFACES[name]
    points = np.array(surface.minimizers)
    np.testing.assert_allclose(surface.gradient(points), 0.0, atol=1e-12)
    np.testing.assert_allclose(surface.value(points), surface.minimum, atol=1e-12)
    assert surface.value(np.array(surface.start)) > surface.minimum


def test_functions_work_on_grids():
    grid = np.zeros((3, 4, 2))
    for surface in SURFACES.values():
        assert surface.value(grid).shape == (3, 4)
        assert surface.gradient(grid).shape == (3, 4, 2)


def test_saddle_point_has_zero_gradient_and_mixed_curvature():
    saddle = SURFACES["saddle"]
    np.testing.assert_array_equal(saddle.gradient(np.zeros(2)), [0.0, 0.0])
    h = 1e-3
    assert saddle.value(np.array([h, 0.0])) > 0 > saddle.value(np.array([0.0, h]))


def test_path_shape_start_and_plain_gradient_descent_by_hand():
    path = run_optimizer("ravine", "sgd", {"learning_rate": 0.1}, start=(2.0, 1.0), steps=3)
    assert path.shape == (4, 2)
    np.testing.assert_array_equal(path[0], [2.0, 1.0])
    # x shrinks by 1 - 0.1 * 0.1, y by 1 - 0.1 * 4 at every step
    np.testing.assert_allclose(path[3], [2.0 * 0.99**3, 0.6**3])


def test_noise_is_seeded():
    a = run_optimizer("saddle", "sgd_momentum", None, steps=20, noise=0.5, seed=3)
    b = run_optimizer("saddle", "sgd_momentum", None, steps=20, noise=0.5, seed=3)
    c = run_optimizer("saddle", "sgd_momentum", None, steps=20, noise=0.5, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_gradient_descent_stalls_at_the_saddle_and_noise_helps_it_escape():
    start = (1.0, 0.0)
    still = run_optimizer("saddle", "sgd", {"learning_rate": 0.1}, start=start, steps=200)
    assert np.abs(still[-1]).max() < 1e-6  # converged to the saddle point, not a minimum
    noisy = run_optimizer("saddle", "sgd", {"learning_rate": 0.1}, start=start, steps=200,
                          noise=0.1)
    assert abs(abs(noisy[-1, 1]) - 1) < 0.2


def test_divergence_leaves_nan_after_the_last_finite_point():
    path = run_optimizer("ravine", "sgd", {"learning_rate": 2.0}, steps=100)
    assert np.isfinite(path[0]).all() and np.isnan(path[-1]).all()


@pytest.mark.parametrize("name, make_optimizer", [
    ("adam", lambda p: torch.optim.Adam(p, lr=0.02)),
    ("nesterov_momentum", lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9, nesterov=True)),
])
def test_rosenbrock_path_matches_torch_with_autograd(name, make_optimizer):
    config = rule_config(name, 1e-3, 0.02, momentum=0.9, decay_rate=0.999)
    ours = run_optimizer("rosenbrock", name, config, steps=100)
    point = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    optimizer = make_optimizer([point])
    theirs = [point.detach().numpy().copy()]
    for _ in range(100):
        optimizer.zero_grad()
        x, y = point
        ((1 - x) ** 2 + 100 * (y - x**2) ** 2).backward()
        optimizer.step()
        theirs.append(point.detach().numpy().copy())
    np.testing.assert_allclose(ours, np.array(theirs), rtol=1e-8, atol=1e-10)


def test_rule_config_routes_the_knobs():
    assert rule_config("sgd", 0.1, 0.01) == {"learning_rate": 0.1}
    assert rule_config("nesterov_momentum", 0.1, 0.01, momentum=0.5)["momentum"] == 0.5
    rmsprop = rule_config("rmsprop", 0.1, 0.01, decay_rate=0.9)
    assert rmsprop == {"learning_rate": 0.01, "decay_rate": 0.9}
    adam = rule_config("adam", 0.1, 0.01, 0.8, 0.95)
    assert adam == {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.95}
    assert set(rule_config("adagrad", 0.1, 0.01)) == {"learning_rate"}
    for name in optim.RULES:
        rule_config(name, 0.1, 0.01)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown function"):
        run_optimizer("himmelblau", "sgd")
    with pytest.raises(ValueError, match="unknown update rule"):
        run_optimizer("ravine", "lion")
    with pytest.raises(ValueError, match="steps"):
        run_optimizer("ravine", "sgd", steps=-1)
    with pytest.raises(ValueError, match="noise"):
        run_optimizer("ravine", "sgd", noise=-0.1)
    with pytest.raises(ValueError, match=r"point \(x, y\)"):
        run_optimizer("ravine", "sgd", start=(1.0, 2.0, 3.0))


def test_plot_draws_one_path_and_one_curve_per_rule():
    rules = ["sgd", "rmsprop", "adam_simple"]
    figure = plot_trajectories("rosenbrock", rules, steps=30, noise=0.1)
    paths_axis, loss_axis = figure.axes[:2]
    labels = [line.get_label() for line in paths_axis.get_lines()]
    assert [label for label in labels if not label.startswith("_")] == rules
    assert len(loss_axis.get_lines()) == 3 and loss_axis.get_yscale() == "log"
    assert len(loss_axis.get_lines()[0].get_ydata()) == 31
    plt.close(figure)


def test_plot_accepts_own_rules_by_name():
    calls = []

    def my_sgd(w, dw, config=None):
        calls.append(config["learning_rate"])
        return w - config["learning_rate"] * dw, config

    figure = plot_trajectories("ravine", {"sgd": my_sgd}, learning_rate=0.2, steps=5)
    assert calls == [0.2] * 5
    plt.close(figure)


def test_widget_builds_and_follows_the_function_defaults():
    panel = optimizer_widget()
    boxes = panel.children[0].children
    controls = {child.description: child for box in boxes for child in box.children}
    controls["function"].value = "rosenbrock"
    rosenbrock = SURFACES["rosenbrock"]
    assert controls["lr (SGD, momentum)"].value == pytest.approx(rosenbrock.learning_rate)
    assert controls["steps"].value == SURFACES["rosenbrock"].steps
    plt.close("all")
    rule_choice = optimizer_widget({"sgd": optim.sgd}).children[0].children[0].children[1]
    assert rule_choice.options == ("sgd",)
    with pytest.raises(ValueError, match="unknown update rule"):
        optimizer_widget({"my_rule": optim.sgd})
    plt.close("all")
