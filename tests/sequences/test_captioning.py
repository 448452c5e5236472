"""CaptioningRNN: CS231n's expected losses, numerical gradients, sampling, and overfitting."""

import numpy as np
import pytest

from course_utils import optim
from course_utils.gradcheck import numerical_gradient, relative_error
from course_utils.sequences.captioning import CaptioningRNN

CELLS = ["rnn", "lstm"]
VOCAB = {"<NULL>": 0, "<START>": 1, "<END>": 2, "a": 3, "cat": 4, "dog": 5, "sits": 6}
NULL, START, END = 0, 1, 2


def tiny_model(cell_type: str, dtype: type = np.float64, seed: int = 0) -> CaptioningRNN:
    return CaptioningRNN(VOCAB, input_dim=3, wordvec_dim=4, hidden_dim=5, cell_type=cell_type,
                         dtype=dtype, seed=seed)


def padded_captions() -> np.ndarray:
    """<START> words <END> <NULL>...: four captions of different lengths, shape (4, 7)."""
    return np.array([[START, 3, 4, 6, END, NULL, NULL],
                     [START, 3, 5, 6, END, NULL, NULL],
                     [START, 4, 6, END, NULL, NULL, NULL],
                     [START, 5, 5, 5, 6, 3, END]])


@pytest.mark.parametrize("cell_type,feature_range,expected", [
    ("rnn", (-1.5, 0.3), 9.83235591003), ("lstm", (-0.5, 1.7), 9.82445935443)])
def test_loss_cs231n_values(cell_type, feature_range, expected):
    N, D, W, H, T = 10, 20, 30, 40, 13
    vocab = {"<NULL>": 0, "cat": 2, "dog": 3}  # no <START>: the loss does not need it
    model = CaptioningRNN(vocab, D, W, H, cell_type, np.float64)
    for name, value in model.params.items():
        model.params[name] = np.linspace(-1.4, 1.3, num=value.size).reshape(value.shape)
    features = np.linspace(*feature_range, num=N * D).reshape(N, D)
    captions = (np.arange(N * T) % len(vocab)).reshape(N, T)
    loss, _ = model.loss(features, captions)
    assert loss == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("cell_type", CELLS)
def test_parameter_shapes_and_seeded_init(cell_type):
    model = CaptioningRNN(VOCAB, input_dim=6, wordvec_dim=4, hidden_dim=5, cell_type=cell_type)
    G = 20 if cell_type == "lstm" else 5
    shapes = {"W_proj": (6, 5), "b_proj": (5,), "W_embed": (7, 4), "Wx": (4, G), "Wh": (5, G),
              "b": (G,), "W_vocab": (5, 7), "b_vocab": (7,)}
    assert {name: p.shape for name, p in model.params.items()} == shapes
    assert all(p.dtype == np.float32 for p in model.params.values())
    again = CaptioningRNN(VOCAB, input_dim=6, wordvec_dim=4, hidden_dim=5, cell_type=cell_type)
    other = CaptioningRNN(VOCAB, input_dim=6, wordvec_dim=4, hidden_dim=5, cell_type=cell_type,
                          seed=1)
    for name in shapes:
        np.testing.assert_array_equal(model.params[name], again.params[name], err_msg=name)
    assert not np.array_equal(model.params["Wx"], other.params["Wx"])


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="cell_type"):
        CaptioningRNN(VOCAB, cell_type="gru")
    with pytest.raises(ValueError, match="<NULL>"):
        CaptioningRNN({"<START>": 0, "cat": 1})
    with pytest.raises(ValueError, match="<START>"):
        CaptioningRNN({"<NULL>": 0, "cat": 1}, input_dim=2).sample(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="temperature"):
        tiny_model("rnn").sample(np.zeros((1, 3)), temperature=-1.0)


@pytest.mark.parametrize("cell_type", CELLS)
def test_loss_gradients_numerical(cell_type):
    model = tiny_model(cell_type)
    rng = np.random.default_rng(1)
    features = rng.standard_normal((4, 3))
    captions = padded_captions()
    for p in model.params.values():  # move away from the init (zero biases, tiny embeddings)
        p += 0.3 * rng.standard_normal(p.shape)
    loss, grads = model.loss(features, captions)
    assert set(grads) == set(model.params)
    for name, param in model.params.items():
        assert grads[name].shape == param.shape and grads[name].dtype == np.float64, name

        def f(_, model=model):
            return model.loss(features, captions)[0]
        numerical = numerical_gradient(f, param)  # perturbs model.params[name] in place
        # The loss rounds at ~1e-15, so centred differences carry ~1e-10 of noise: entries of
        # ~1e-5 (some of Wh) read ~1e-6 in relative error; larger entries ~1e-8.
        error = relative_error(grads[name], numerical)
        assert error < 1e-5, f"{name}: {error:.2e}"
        np.testing.assert_allclose(grads[name], numerical, rtol=1e-7, atol=1e-9, err_msg=name)


def test_masked_targets_do_not_count():
    """Padding targets change neither the loss nor any gradient."""
    model = tiny_model("lstm")
    features = np.random.default_rng(2).standard_normal((4, 3))
    loss, grads = model.loss(features, padded_captions())
    longer = np.concatenate([padded_captions(), np.full((4, 3), NULL)], axis=1)
    loss_longer, grads_longer = model.loss(features, longer)
    assert loss_longer == pytest.approx(loss, rel=1e-12)
    for name in grads:
        np.testing.assert_allclose(grads_longer[name], grads[name], rtol=1e-10, err_msg=name)


@pytest.mark.parametrize("cell_type", CELLS)
def test_float32_model_keeps_float32(cell_type):
    model = tiny_model(cell_type, dtype=np.float32)
    features = np.random.default_rng(3).standard_normal((4, 3))  # float64 features are cast
    loss, grads = model.loss(features, padded_captions())
    assert isinstance(loss, float)
    assert all(g.dtype == np.float32 for g in grads.values())


@pytest.mark.parametrize("cell_type", CELLS)
def test_sample_shape_dtype_and_determinism(cell_type):
    model = tiny_model(cell_type)
    features = np.random.default_rng(4).standard_normal((5, 3))
    captions = model.sample(features, max_length=6)
    assert captions.shape == (5, 6) and captions.dtype == np.int64
    assert ((captions >= 0) & (captions < len(VOCAB))).all()
    np.testing.assert_array_equal(model.sample(features, 6), captions)  # positional, as CS231n
    np.testing.assert_array_equal(model.sample(features, 6, 0.0, seed=9), captions)
    hot = model.sample(features, 6, temperature=5.0, seed=1)
    np.testing.assert_array_equal(model.sample(features, 6, temperature=5.0, seed=1), hot)
    assert not np.array_equal(hot, captions)  # 5 rows of 6 nearly uniform draws
    np.testing.assert_array_equal(model.sample(features, 6, temperature=1e-6, seed=1), captions)
    assert model.sample(np.zeros((1, 3)), max_length=1).shape == (1, 1)


def rigged_model(words_by_step: list[int]) -> CaptioningRNN:
    """An rnn whose greedy caption is words_by_step, whatever the image and the words fed back.

    Input weights are zero, h0 = 10 e_0 (from features = 1 of dimension 1), and Wh shifts the
    state along: h_t = tanh(10 h_{t-1} shifted by one) ≈ e_{t+1}. W_vocab reads step t's word
    from unit t + 1.
    """
    T = len(words_by_step)
    model = CaptioningRNN(VOCAB, input_dim=1, wordvec_dim=2, hidden_dim=T + 1, dtype=np.float64)
    p = {name: np.zeros_like(value) for name, value in model.params.items()}
    p["W_proj"][0, 0] = 10.0
    p["Wh"] = 10.0 * np.eye(T + 1, k=1)
    for step, word in enumerate(words_by_step):
        p["W_vocab"][step + 1, word] = 10.0
    model.params = p
    return model


def test_sample_pads_with_null_after_end():
    """Greedy words per step a, cat, <END>, dog, sits: the caption stops at <END>."""
    model = rigged_model([3, 4, END, 5, 6])
    captions = model.sample(np.ones((2, 1)), max_length=5)
    np.testing.assert_array_equal(captions, [[3, 4, END, NULL, NULL]] * 2)


def test_sample_without_end_keeps_writing():
    model = rigged_model([3, 4, 5, 6, 3])
    np.testing.assert_array_equal(model.sample(np.ones((1, 1)), max_length=5), [[3, 4, 5, 6, 3]])


@pytest.mark.parametrize("cell_type", CELLS)
def test_overfits_four_captions(cell_type):
    """Adam on a tiny model memorises 4 captions: the loss (summed over steps) drops below 0.1."""
    model = CaptioningRNN(VOCAB, input_dim=8, wordvec_dim=8, hidden_dim=16, cell_type=cell_type,
                          dtype=np.float64, seed=0)
    features = np.random.default_rng(5).standard_normal((4, 8))
    captions = padded_captions()
    configs = {name: {"learning_rate": 1e-2} for name in model.params}
    for _ in range(200):  # about 75 steps suffice
        loss, grads = model.loss(features, captions)
        for name in model.params:
            model.params[name], configs[name] = optim.adam(model.params[name], grads[name],
                                                           configs[name])
    assert loss < 0.1
    np.testing.assert_array_equal(model.sample(features, max_length=6), captions[:, 1:])


def test_graded_marks():
    assert CaptioningRNN.loss.__graded_in__ == CaptioningRNN.sample.__graded_in__ == "ch10_rnn"
    assert not hasattr(CaptioningRNN.__init__, "__graded_in__")
