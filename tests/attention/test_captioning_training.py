"""train_captioning_transformer fits captions and draws train_captioner's minibatches;
loss_per_word weighs captions by their words; compare_captioners reports both models."""

import numpy as np
import pytest
import torch

from course_utils.attention.captioning_training import (
    TRANSFORMER_LEARNING_RATE,
    TRANSFORMER_SETTINGS,
    compare_captioners,
    loss_per_word,
    train_captioning_transformer,
)
from course_utils.attention.transformer import CaptioningTransformer
from course_utils.sequences.captioning import CaptioningRNN
from course_utils.sequences.captioning_training import train_captioner
from course_utils.synthetic.captions import (
    MAX_WORDS,
    build_vocabulary,
    encode_captions,
    make_caption_scenes,
)

WORD_TO_IDX, IDX_TO_WORD = build_vocabulary()
DIM = 16


def fake_split(n: int, seed: int) -> dict:
    """n scenes' real captions (every reference a row) with random DIM-d features."""
    scenes = make_caption_scenes(n, seed=seed)
    rows = [(i, caption) for i, captions in enumerate(scenes.captions) for caption in captions]
    return {"captions": encode_captions([c for _, c in rows], WORD_TO_IDX, MAX_WORDS),
            "image_idxs": np.array([i for i, _ in rows]),
            "features": np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32),
            "references": scenes.captions}


@pytest.fixture(scope="module")
def data() -> dict:
    splits = {"train": fake_split(12, seed=0), "val": fake_split(6, seed=1)}
    return {"word_to_idx": WORD_TO_IDX, "idx_to_word": IDX_TO_WORD,
            **{f"{split}_{key}": value for split, parts in splits.items()
               for key, value in parts.items()}}


def small_transformer(seed: int = 0) -> CaptioningTransformer:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CaptioningTransformer(WORD_TO_IDX, DIM, wordvec_dim=32, num_heads=2,
                                     num_layers=1, max_length=MAX_WORDS + 2)


def test_the_loss_falls_and_the_model_is_left_in_eval_mode(data):
    first = np.unique(data["train_image_idxs"], return_index=True)[1]   # one caption an image
    small = {"train_captions": data["train_captions"][first],
             "train_image_idxs": data["train_image_idxs"][first],
             "train_features": data["train_features"]}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = CaptioningTransformer(WORD_TO_IDX, DIM, max_length=MAX_WORDS + 2,
                                      **TRANSFORMER_SETTINGS)
    history = train_captioning_transformer(model, small, steps=150, batch_size=12,
                                           learning_rate=TRANSFORMER_LEARNING_RATE,
                                           progress=False)
    assert len(history) == 150
    assert history[0] > 3 and np.mean(history[-5:]) < 0.1       # 3.55 -> 0.036 measured
    assert not model.training          # sample() would otherwise run with dropout


def test_training_is_seeded_and_leaves_the_global_generator_alone(data):
    def run(seed: int) -> list[float]:
        torch.rand(3)                   # move the global generator: the run must not read it
        state = torch.get_rng_state()
        history = train_captioning_transformer(small_transformer(), data, steps=5,
                                               batch_size=8, seed=seed, progress=False)
        assert torch.equal(torch.get_rng_state(), state)
        return history

    runs = [run(seed) for seed in (3, 3, 4)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_dropout_is_on_while_training(data):
    # the same minibatches (seed 3) with and without dropout: the losses must differ
    model, other = small_transformer(), small_transformer()
    first = train_captioning_transformer(model, data, steps=3, batch_size=8, seed=3,
                                         progress=False)
    for module in other.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    without_dropout = train_captioning_transformer(other, data, steps=3, batch_size=8, seed=3,
                                                   progress=False)
    assert first != without_dropout


class RecordingTransformer(CaptioningTransformer):
    """Remembers the features and captions of each training forward pass."""

    def forward(self, features, captions):
        self.seen.append((features.numpy().copy(), captions.numpy().copy()))
        return super().forward(features, captions)


class RecordingRNN(CaptioningRNN):
    """Remembers the features and captions of each loss."""

    def loss(self, features, captions):
        self.seen.append((features.copy(), captions.copy()))
        return super().loss(features, captions)


def test_the_minibatches_are_train_captioners(data):
    torch.manual_seed(0)
    transformer = RecordingTransformer(WORD_TO_IDX, DIM, wordvec_dim=16, num_heads=2,
                                       num_layers=1, max_length=MAX_WORDS + 2)
    rnn = RecordingRNN(WORD_TO_IDX, input_dim=DIM, wordvec_dim=8, hidden_dim=8)
    transformer.seen, rnn.seen = [], []
    train_captioning_transformer(transformer, data, steps=4, batch_size=6, seed=5,
                                 progress=False)
    train_captioner(rnn, data, steps=4, batch_size=6, seed=5, progress=False)
    assert len(transformer.seen) == len(rnn.seen) == 4
    for (t_features, t_captions), (r_features, r_captions) in zip(transformer.seen, rnn.seen,
                                                                  strict=True):
        np.testing.assert_array_equal(t_captions, r_captions[:, :-1])   # inputs: <END> cut
        np.testing.assert_array_equal(t_features, r_features)


@pytest.mark.parametrize("kind", ["LSTM", "transformer"])
def test_loss_per_word_weighs_each_caption_by_its_words(data, kind):
    model = (CaptioningRNN(WORD_TO_IDX, input_dim=DIM, wordvec_dim=8, hidden_dim=8, seed=0)
             if kind == "LSTM" else small_transformer())
    captions, image_idxs = data["train_captions"], data["train_image_idxs"]
    lengths = (captions[:, 1:] != 0).sum(axis=1)
    short, long = int(np.argmin(lengths)), int(np.argmax(lengths))
    assert lengths[short] < lengths[long]
    each = [loss_per_word(model, data["train_features"], captions[[i]], image_idxs[[i]])
            for i in (short, long)]
    both = loss_per_word(model, data["train_features"], captions[[short, long]],
                         image_idxs[[short, long]])
    weighted = (each[0] * lengths[short] + each[1] * lengths[long]) / lengths[[short, long]].sum()
    assert both == pytest.approx(weighted, rel=1e-5)


def test_compare_captioners_reports_both_models(data):
    results = compare_captioners(data, steps=3, batch_size=5, progress=False)
    assert set(results) == {"LSTM", "transformer"}
    keys = {"model", "history", "final loss", "seconds", "parameters", "validation loss",
            "BLEU-4", "exact match"}
    for name, result in results.items():
        assert set(result) == keys, name
        assert len(result["history"]) == 3
        assert result["final loss"] == pytest.approx(np.mean(result["history"]))
        assert result["seconds"] > 0
        assert 0 <= result["BLEU-4"] <= 1 and 0 <= result["exact match"] <= 1
        assert result["validation loss"] > 0
    lstm, transformer = results["LSTM"]["model"], results["transformer"]["model"]
    assert results["LSTM"]["parameters"] == sum(p.size for p in lstm.params.values())
    assert results["transformer"]["parameters"] == sum(
        p.numel() for p in transformer.parameters())
    assert lstm.cell_type == "lstm" and not transformer.training
