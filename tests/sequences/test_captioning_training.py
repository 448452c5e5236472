"""train_captioner overfits a small set, as CS231n's CaptioningSolver does; evaluate_captioner
scores greedy captions."""

import numpy as np
import pytest

from course_utils.sequences.captioning import CaptioningRNN
from course_utils.sequences.captioning_training import evaluate_captioner, train_captioner
from course_utils.synthetic.captions import (
    MAX_WORDS,
    build_vocabulary,
    encode_captions,
    make_caption_scenes,
)

WORD_TO_IDX, IDX_TO_WORD = build_vocabulary()


@pytest.fixture(scope="module")
def small_data():
    """50 scenes, each with its fullest caption only (one caption per image, so the loss can
    reach 0) and random 32-d features."""
    scenes = make_caption_scenes(50, seed=0)
    references = [captions[:1] for captions in scenes.captions]
    features = np.random.default_rng(0).standard_normal((50, 32)).astype(np.float32)
    data = {"train_captions": encode_captions([r[0] for r in references], WORD_TO_IDX, MAX_WORDS),
            "train_image_idxs": np.arange(50), "train_features": features}
    return data, references


@pytest.mark.parametrize("cell_type", ["rnn", "lstm"])
def test_the_captioner_overfits_50_captions(small_data, cell_type):
    data, references = small_data
    model = CaptioningRNN(WORD_TO_IDX, input_dim=32, wordvec_dim=64, hidden_dim=128,
                          cell_type=cell_type, seed=0)
    history = train_captioner(model, data, steps=100, batch_size=25, learning_rate=1e-2,
                              progress=False)
    assert len(history) == 100
    assert history[0] > 10 * history[-1]
    assert history[-1] < 0.1                  # CS231n's bar for overfitting 50 captions
    scores = evaluate_captioner(model, data["train_features"], references, IDX_TO_WORD)
    assert set(scores) == {"BLEU-4", "exact match"}
    assert scores["exact match"] == 1.0
    assert scores["BLEU-4"] == pytest.approx(1.0)


def test_training_is_seeded(small_data):
    data, _ = small_data
    runs = []
    for _ in range(2):
        model = CaptioningRNN(WORD_TO_IDX, input_dim=32, wordvec_dim=16, hidden_dim=16, seed=1)
        runs.append(train_captioner(model, data, steps=5, batch_size=10, seed=3, progress=False))
    assert runs[0] == runs[1]


def test_an_untrained_captioner_scores_low(small_data):
    data, references = small_data
    model = CaptioningRNN(WORD_TO_IDX, input_dim=32, wordvec_dim=16, hidden_dim=16, seed=0)
    scores = evaluate_captioner(model, data["train_features"], references, IDX_TO_WORD)
    assert scores["exact match"] == 0.0
    assert 0.0 <= scores["BLEU-4"] < 0.1
