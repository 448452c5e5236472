"""Sequence models on the synthetic tasks: framings, shapes, seeding, and tiny training runs
that drive the loss down and beat chance."""

import numpy as np
import pytest
import torch

from course_utils.sequences.seq2seq import (
    VOCAB,
    Seq2Seq,
    SequenceTagger,
    evaluate_seq2seq,
    evaluate_tagger,
    scheduled_sampling_logits,
    tagger_arrays,
    train_seq2seq,
    train_tagger,
)
from course_utils.synthetic.sequence_tasks import END, NULL, decode_tokens, make_sequence_task

CHANCE = 1 / 11          # ten digits and <END>
SMALL = {"hidden_size": 32, "embedding_size": 8}


def small_task(name: str, n: int = 600, seed: int = 0, max_length: int = 4):
    return make_sequence_task(name, n, seed=seed, max_length=max_length)


def test_aligned_framing_puts_the_reversed_answer_under_the_prompt():
    task = make_sequence_task("reverse", 5, seed=0, max_length=6)
    inputs, targets, mask = tagger_arrays(task, "aligned")
    assert inputs.shape == targets.shape == mask.shape == (5, 7)
    for row in range(5):
        length = int(task.prompt_lengths[row])       # digits and "="
        assert decode_tokens(targets[row].numpy()) == decode_tokens(inputs[row].numpy())[::-1][1:]
        assert targets[row, length - 1] == END and mask[row].sum() == length
        assert (targets[row, length:] == NULL).all()


def test_framing_checks():
    with pytest.raises(ValueError, match="as long as its prompt"):
        tagger_arrays(small_task("addition", 4), "aligned")
    with pytest.raises(ValueError, match="bidirectional"):
        SequenceTagger(bidirectional=True, framing="language_model")
    with pytest.raises(ValueError, match="framing"):
        SequenceTagger(framing="other")


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_tagger_shapes(cell, bidirectional):
    model = SequenceTagger(cell, bidirectional=bidirectional, framing="aligned", **SMALL)
    assert model(torch.zeros(3, 7, dtype=torch.long)).shape == (3, 7, VOCAB)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_seq2seq_shapes(cell):
    task = small_task("copy", 4)
    prompts, lengths = torch.from_numpy(task.prompts), torch.from_numpy(task.prompt_lengths)
    answers = torch.from_numpy(task.answers)
    model = Seq2Seq(cell, **SMALL)
    assert model(prompts, lengths, answers[:, :-1]).shape == (4, answers.shape[1] - 1, VOCAB)
    assert model.generate(prompts, lengths, 5).shape == (4, 5)


def test_encoder_state_ignores_padding():
    """A prompt's context vector is the same alone and padded in a batch with a longer one."""
    task = make_sequence_task("copy", 20, seed=0, max_length=6)
    model = Seq2Seq(**SMALL)
    short = int(np.argmin(task.prompt_lengths))
    length = int(task.prompt_lengths[short])
    prompts, lengths = torch.from_numpy(task.prompts), torch.from_numpy(task.prompt_lengths)
    h, _ = model.encode(prompts, lengths)
    alone, _ = model.encode(prompts[short:short + 1, :length], lengths[short:short + 1])
    torch.testing.assert_close(h[:, short], alone[:, 0])


def test_full_sampling_feeds_the_models_own_predictions():
    task = small_task("reverse", 6)
    prompts, lengths = torch.from_numpy(task.prompts), torch.from_numpy(task.prompt_lengths)
    answers = torch.from_numpy(task.answers)
    model = Seq2Seq(**SMALL)
    steps = answers.shape[1] - 1
    with torch.no_grad():
        teacher = scheduled_sampling_logits(model, prompts, lengths, answers[:, :-1], 0.0,
                                            torch.Generator().manual_seed(0))
        own = scheduled_sampling_logits(model, prompts, lengths, answers[:, :-1], 1.0,
                                        torch.Generator().manual_seed(0))
    torch.testing.assert_close(teacher, model(prompts, lengths, answers[:, :-1]).detach())
    assert torch.equal(own.argmax(dim=2), model.generate(prompts, lengths, steps))


def test_models_are_seeded_and_leave_the_global_generator_alone():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a, b, c = Seq2Seq(seed=1), Seq2Seq(seed=1), Seq2Seq(seed=2)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.output.weight, b.output.weight)
    assert not torch.equal(a.output.weight, c.output.weight)


def test_training_is_deterministic():
    task = small_task("copy", 200)
    losses = []
    for _ in range(2):
        model = SequenceTagger(seed=3, **SMALL)
        losses.append(train_tagger(model, task, steps=5, batch_size=16, seed=4,
                                   progress=False)["loss"])
    assert losses[0] == losses[1]


def test_tagger_learns_copy():
    train, test = small_task("copy", max_length=3), small_task("copy", 200, seed=1, max_length=3)
    model = SequenceTagger(**SMALL)
    history = train_tagger(model, train, steps=120, batch_size=32, progress=False)
    assert np.mean(history["loss"][-10:]) < 0.5 * np.mean(history["loss"][:10])
    assert evaluate_tagger(model, test)["token_accuracy"] > 3 * CHANCE


def test_bidirectional_tagger_learns_aligned_reverse():
    train, test = small_task("reverse", max_length=3), small_task("reverse", 200, seed=1,
                                                                 max_length=3)
    model = SequenceTagger(bidirectional=True, framing="aligned", **SMALL)
    history = train_tagger(model, train, steps=120, batch_size=32, progress=False)
    assert np.mean(history["loss"][-10:]) < 0.5 * np.mean(history["loss"][:10])
    assert evaluate_tagger(model, test)["token_accuracy"] > 3 * CHANCE


@pytest.mark.parametrize("sampling_probability", [0.0, 0.5])
def test_seq2seq_learns_reverse(sampling_probability):
    train, test = small_task("reverse", max_length=3), small_task("reverse", 200, seed=1,
                                                                 max_length=3)
    model = Seq2Seq(**SMALL)
    history = train_seq2seq(model, train, steps=120, batch_size=32, progress=False,
                            sampling_probability=sampling_probability)
    assert np.mean(history["loss"][-10:]) < 0.5 * np.mean(history["loss"][:10])
    free = evaluate_seq2seq(model, test, teacher_forcing=False)
    forced = evaluate_seq2seq(model, test, teacher_forcing=True)
    assert free["token_accuracy"] > 3 * CHANCE
    # a whole answer right given the true prefixes is what greedy decoding writes
    assert free["sequence_accuracy"] == forced["sequence_accuracy"]


def test_evaluate_counts_tokens_and_whole_answers():
    task = small_task("copy", 50)
    model = SequenceTagger(**SMALL)
    scores = evaluate_tagger(model, task)
    assert set(scores) == {"sequence_accuracy", "token_accuracy"}
    assert all(0 <= value <= 1 for value in scores.values())
