"""The sequence tasks: deterministic, shapes fixed by max_length, answers right (addition checked
with Python ints), and the many-to-many mask exactly on the answer's targets."""

import numpy as np
import pytest

from course_utils.synthetic.sequence_tasks import (
    END,
    NULL,
    START,
    TASKS,
    TOKENS,
    decode_tokens,
    make_sequence_task,
)


def answer_of(task, prompt):
    body = prompt.removesuffix("=")
    if task == "addition":
        a, b = body.split("+")
        return str(int(a) + int(b))
    return body if task == "copy" else body[::-1]


@pytest.mark.parametrize("task", TASKS)
def test_shapes_determinism_and_prefix(task):
    some = make_sequence_task(task, 500, seed=3, min_length=2, max_length=6)
    prompt, answer = (14, 7) if task == "addition" else (7, 6)
    assert some.inputs.shape == some.targets.shape == some.mask.shape == (500, prompt + answer)
    assert some.prompts.shape == (500, prompt) and some.answers.shape == (500, answer + 2)
    assert some.prompt_lengths.shape == some.answer_lengths.shape == (500,) and len(some) == 500
    for field in ("inputs", "targets", "prompts", "answers", "prompt_lengths", "answer_lengths"):
        assert getattr(some, field).dtype == np.int64
    assert some.mask.dtype == bool
    again = make_sequence_task(task, 500, seed=3, min_length=2, max_length=6)
    first = make_sequence_task(task, 40, seed=3, min_length=2, max_length=6)
    for field in ("inputs", "targets", "mask", "prompts", "answers"):
        assert np.array_equal(getattr(again, field), getattr(some, field))
        assert np.array_equal(getattr(first, field), getattr(some, field)[:40])
    assert not np.array_equal(make_sequence_task(task, 500, seed=4, min_length=2,
                                                 max_length=6).prompts, some.prompts)
    assert make_sequence_task(task, 0).inputs.shape[0] == 0


@pytest.mark.parametrize("task", TASKS)
def test_answers_are_right_and_lengths_vary(task):
    data = make_sequence_task(task, 2000, seed=1, min_length=1, max_length=5)
    prompts, answers = decode_tokens(data.prompts), decode_tokens(data.answers)
    digit_strings = [p.removesuffix("=").split("+") for p in prompts]
    for prompt, answer, strings in zip(prompts, answers, digit_strings, strict=True):
        assert answer == answer_of(task, prompt), prompt
        assert prompt.endswith("=") and prompt.count("+") == (task == "addition")
        assert all(1 <= len(s) <= 5 and s.isdigit() for s in strings), prompt
        if task == "addition":
            assert all(s == str(int(s)) for s in strings), prompt     # no leading zeros
    lengths = [len(s) for strings in digit_strings for s in strings]
    assert set(lengths) == {1, 2, 3, 4, 5}
    assert data.prompt_lengths.tolist() == [len(p) for p in prompts]
    assert data.answer_lengths.tolist() == [len(a) for a in answers]
    assert (data.answers[:, 0] == START).all()
    ends = data.answers[np.arange(2000), data.answer_lengths + 1]
    assert (ends == END).all()
    assert ((data.answers == NULL) == (np.arange(data.answers.shape[1])
                                        > data.answer_lengths[:, None] + 1)).all()
    assert ((data.prompts == NULL) == (np.arange(data.prompts.shape[1])
                                        >= data.prompt_lengths[:, None])).all()


def test_addition_carries_into_a_new_digit():
    data = make_sequence_task("addition", 3000, seed=0, min_length=1, max_length=3)
    texts = decode_tokens(data.prompts)
    longer = [len(answer) > max(map(len, prompt[:-1].split("+")))
              for prompt, answer in zip(texts, decode_tokens(data.answers), strict=True)]
    assert any(longer) and not all(longer)
    assert max(data.answer_lengths) == 4 and data.answers.shape == (3000, 6)


@pytest.mark.parametrize("task", TASKS)
def test_many_to_many_sequences_and_mask(task):
    data = make_sequence_task(task, 500, seed=2, min_length=1, max_length=4)
    for i in range(500):
        p, a = data.prompt_lengths[i], data.answer_lengths[i]
        whole = [*data.prompts[i, :p], *data.answers[i, 1:a + 2]]    # prompt answer <END>
        padded = whole + [NULL] * (data.inputs.shape[1] + 1 - len(whole))
        assert data.inputs[i].tolist() == padded[:-1] and data.targets[i].tolist() == padded[1:]
        steps = np.arange(data.inputs.shape[1])
        assert np.array_equal(np.flatnonzero(data.mask[i]), steps[p - 1:p + a])
        assert "".join(TOKENS[t] for t in data.targets[i][data.mask[i]]) == (
            decode_tokens(data.answers[i]) + "<END>")


def test_decode_and_bad_arguments():
    assert decode_tokens(np.array([START, 4, 5, END, 6, NULL])) == "12"
    assert decode_tokens(np.array([[4, 13, 5, 14], [NULL, NULL, NULL, NULL]])) == ["1+2=", ""]
    with pytest.raises(ValueError, match="task"):
        make_sequence_task("sort", 3)
    with pytest.raises(ValueError, match="min_length"):
        make_sequence_task("copy", 3, min_length=4, max_length=3)
