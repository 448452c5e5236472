"""AttentionSeq2Seq's additive attention, its training, and the two bottleneck experiments."""

import numpy as np
import torch

from course_utils.attention.bottleneck import (
    AttentionSeq2Seq,
    bottleneck_experiment,
    cost_against_length,
    evaluate_attention_seq2seq,
    train_attention_seq2seq,
)
from course_utils.synthetic.sequence_tasks import NULL, TOKENS, make_sequence_task


def task_tensors(task):
    return tuple(torch.from_numpy(np.asarray(a))
                 for a in (task.prompts, task.prompt_lengths, task.answers))


def test_shapes_and_attention_weights_over_the_prompt():
    task = make_sequence_task("reverse", 16, seed=0, max_length=6)
    prompts, lengths, answers = task_tensors(task)
    model = AttentionSeq2Seq(hidden_size=12, embedding_size=5, seed=0)
    n, p = prompts.shape
    s = answers.shape[1] - 1
    logits, weights = model(prompts, lengths, answers[:, :-1])
    assert logits.shape == (n, s, len(TOKENS))
    assert weights.shape == (n, s, p)
    padding = prompts == NULL
    assert padding.any(), "the test needs prompts of different lengths"
    torch.testing.assert_close(weights.sum(dim=2), torch.ones(n, s))
    assert (weights.masked_select(padding[:, None].expand_as(weights)) == 0).all()
    assert (weights.masked_select(~padding[:, None].expand_as(weights)) > 0).all()

    tokens, generated_weights = model.generate(prompts, lengths, steps=4)
    assert tokens.shape == (n, 4) and generated_weights.shape == (n, 4, p)
    torch.testing.assert_close(generated_weights.sum(dim=2), torch.ones(n, 4))


def test_padding_does_not_change_the_output():
    task = make_sequence_task("copy", 8, seed=3, max_length=5)
    prompts, lengths, answers = task_tensors(task)
    padded = torch.cat([prompts, torch.full((len(prompts), 3), NULL)], dim=1)
    model = AttentionSeq2Seq(hidden_size=10, embedding_size=4, seed=1).eval()
    logits, weights = model(prompts, lengths, answers[:, :-1])
    padded_logits, padded_weights = model(padded, lengths, answers[:, :-1])
    torch.testing.assert_close(padded_logits, logits)
    torch.testing.assert_close(padded_weights[:, :, :prompts.shape[1]], weights)


def test_same_seed_same_model():
    first, second = AttentionSeq2Seq(seed=4), AttentionSeq2Seq(seed=4)
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)


def test_tiny_training_lowers_the_loss_and_beats_chance():
    train = make_sequence_task("copy", 500, seed=0, max_length=3)
    test = make_sequence_task("copy", 200, seed=1, max_length=3)
    model = AttentionSeq2Seq(hidden_size=32, embedding_size=8, seed=0)
    history = train_attention_seq2seq(model, train, steps=80, batch_size=32, seed=0,
                                      progress=False)
    assert np.mean(history["loss"][-10:]) < 0.5 * np.mean(history["loss"][:5])
    accuracy = evaluate_attention_seq2seq(model, test)
    assert accuracy["token_accuracy"] > 0.5          # chance is about 1 in 11
    forced = evaluate_attention_seq2seq(model, test, teacher_forcing=True)
    assert forced["token_accuracy"] >= accuracy["token_accuracy"] - 1e-6


def test_bottleneck_experiment_reports_every_length_for_both_models():
    results, models = bottleneck_experiment(lengths=(1, 3), steps=3, hidden_size=8, n_train=64,
                                            n_test=10, progress=False)
    assert set(results) == set(models) == {"fixed_context", "attention"}
    assert isinstance(models["attention"], AttentionSeq2Seq)
    for by_length in results.values():
        assert set(by_length) == {1, 3}
        for accuracy in by_length.values():
            assert set(accuracy) == {"sequence_accuracy", "token_accuracy"}
            assert all(0.0 <= value <= 1.0 for value in accuracy.values())


def test_cost_against_length_counts_attention_scores_as_s_squared():
    lengths = (8, 16, 32)
    cost = cost_against_length(lengths=lengths, batch_size=2, width=8, num_heads=2, repeats=1)
    assert cost["length"] == list(lengths)
    assert all(t > 0 for t in cost["lstm_seconds"] + cost["attention_seconds"])
    assert cost["attention_scores"] == [2 * 2 * s * s for s in lengths]
    assert all(n > 0 for n in cost["lstm_saved_floats"] + cost["attention_saved_floats"])
    # the saved activations grow faster with S for attention than for the LSTM
    attention_growth = cost["attention_saved_floats"][-1] / cost["attention_saved_floats"][0]
    lstm_growth = cost["lstm_saved_floats"][-1] / cost["lstm_saved_floats"][0]
    assert attention_growth > lstm_growth
