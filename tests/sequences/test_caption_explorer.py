"""The caption explorer's step-by-step decoding, its figure and its widget."""

import ipywidgets
import matplotlib
import numpy as np
import pytest
import torch

from course_utils.sequences import caption_explorer
from course_utils.sequences.captioning import CaptioningRNN
from course_utils.synthetic.captions import build_vocabulary

matplotlib.use("Agg")


@pytest.mark.parametrize("cell_type", ["rnn", "lstm"])
def test_the_steps_write_the_greedy_caption(cell_type):
    word_to_idx, idx_to_word = build_vocabulary()
    model = CaptioningRNN(word_to_idx, input_dim=6, wordvec_dim=5, hidden_dim=7,
                          cell_type=cell_type, dtype=np.float64, seed=1)
    features = np.random.default_rng(0).standard_normal((3, 6))
    sampled = model.sample(features, max_length=9)
    for i in range(3):
        steps = caption_explorer.caption_steps(model, features[i], max_length=9)
        words = [word for word, _ in steps]
        expected = [idx_to_word[t] for t in sampled[i]]
        if "<END>" in expected:
            expected = expected[:expected.index("<END>") + 1]
        assert words == expected
        for word, top in steps:
            assert top[0][0] == word and len(top) == caption_explorer.TOP
            probabilities = [p for _, p in top]
            assert probabilities == sorted(probabilities, reverse=True)
            assert 0 < sum(probabilities) <= 1 + 1e-9


def test_the_steps_stop_at_end():
    word_to_idx, _ = build_vocabulary()
    model = CaptioningRNN(word_to_idx, input_dim=2, wordvec_dim=3, hidden_dim=4, seed=0)
    model.params["W_vocab"][:] = 0
    model.params["b_vocab"][:] = 0
    model.params["b_vocab"][word_to_idx["<END>"]] = 5.0   # <END> is always the likeliest
    steps = caption_explorer.caption_steps(model, np.zeros(2), max_length=6)
    assert [word for word, _ in steps] == ["<END>"]


def test_the_figure_and_the_widget():
    word_to_idx, _ = build_vocabulary()
    model = CaptioningRNN(word_to_idx, input_dim=4, wordvec_dim=3, hidden_dim=5, seed=0)
    images, features = torch.rand(2, 3, 8, 8), np.ones((2, 4))
    references = [["a red square"], ["a blue seven"]]
    steps = caption_explorer.caption_steps(model, features[0], max_length=4)
    fig = caption_explorer.plot_caption_step(images[0], steps, 0, references[0])
    assert "a red square" in fig.axes[0].get_title()
    assert len(fig.axes[1].patches) == caption_explorer.TOP
    widget = caption_explorer.caption_explorer_widget(model, images, features, references,
                                                      max_length=4)
    assert isinstance(widget, ipywidgets.VBox)
    scene, step = widget.children[0].children
    scene.value = 1   # redraws without error
    assert step.max <= 3
