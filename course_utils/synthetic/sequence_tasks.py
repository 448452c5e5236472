"""Seeded sequence tasks that need memory: copy a digit string, reverse it, or add two.

    copy       "3141="     -> "3141"
    reverse    "3141="     -> "1413"
    addition   "123+456="  -> "579"

Strings have min_length to max_length digits (uniform; addition draws each operand's length
on its own, numbers without leading zeros). Tokens come from one fixed vocabulary of 15:
<NULL> (0, padding), <START>, <END>, the digits 0-9, "+" and "=". Every task comes in two forms:

- many-to-many (one RNN reads the whole string and is trained on the answer's positions): the
  sequence prompt + answer + <END>, as inputs (its tokens but the last) and targets (its tokens
  but the first), padded with <NULL>; mask is True exactly where a target is a token of the
  answer or its <END>, as temporal_softmax_loss(x, y, mask) takes it.
- seq2seq (an encoder reads the prompt, a decoder writes the answer): prompts padded with
  <NULL>, and answers as CS231n's captions, `<START> digits <END> <NULL> ...`; the decoder reads
  answers[:, :-1] and is trained on answers[:, 1:] where they are not <NULL>.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOKENS: tuple[str, ...] = ("<NULL>", "<START>", "<END>", *"0123456789", "+", "=")
TOKEN_TO_INDEX: dict[str, int] = {token: i for i, token in enumerate(TOKENS)}
NULL, START, END = 0, 1, 2
DIGIT0, PLUS, EQUALS = 3, 13, 14          # digit d is the token DIGIT0 + d
TASKS = ("copy", "reverse", "addition")


@dataclass
class SequenceTask:
    """N examples of one task, int64 tokens, with P the longest prompt and A the longest
    answer that max_length allows (P = M + 1 and A = M for copy and reverse, P = 2M + 2 and
    A = M + 1 for addition, M = max_length), T = P + A."""

    inputs: np.ndarray            # (N, T) prompt + answer, then <NULL>
    targets: np.ndarray           # (N, T) inputs shifted by one: what follows each input token
    mask: np.ndarray              # (N, T) bool, True at the targets of the answer and its <END>
    prompts: np.ndarray           # (N, P) the prompt, then <NULL>
    prompt_lengths: np.ndarray    # (N,) tokens in each prompt, "=" included
    answers: np.ndarray           # (N, A + 2) <START> answer <END>, then <NULL>
    answer_lengths: np.ndarray    # (N,) tokens in each answer, <START> and <END> left out

    def __len__(self) -> int:
        return len(self.inputs)


def make_sequence_task(task: str, n: int, seed: int = 0, min_length: int = 1,
                       max_length: int = 8) -> SequenceTask:
    """n random examples of task ("copy", "reverse" or "addition"), digit strings of min_length
    to max_length digits. The same arguments give the same examples, the first k of n are
    make_sequence_task(task, k, ...) and the shapes depend on max_length only (SequenceTask)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if not 1 <= min_length <= max_length:
        raise ValueError(f"need 1 <= min_length <= max_length, got {min_length}, {max_length}")
    rng = np.random.default_rng([seed, TASKS.index(task)])
    operands = 2 if task == "addition" else 1
    # one row of uniforms per example: the operands' lengths, then their digits
    draws = rng.random((n, operands * (1 + max_length)))
    lengths = min_length + np.minimum(
        (draws[:, :operands] * (max_length - min_length + 1)).astype(np.int64),
        max_length - min_length)                                   # (n, operands)
    uniforms = draws[:, operands:].reshape(n, operands, max_length)
    digits = np.minimum((uniforms * 10).astype(np.int64), 9)       # most significant first
    present = np.arange(max_length) < lengths[..., None]
    if task == "addition":                   # no leading zero: the first digit is 1-9
        first = 1 + np.minimum((uniforms[:, :, 0] * 9).astype(np.int64), 8)
        digits[:, :, 0] = np.where(lengths > 1, first, digits[:, :, 0])
    tokens = np.where(present, DIGIT0 + digits, NULL)              # (n, operands, M)
    if task == "addition":
        prompt_parts = [tokens[:, 0], np.full((n, 1), PLUS), tokens[:, 1]]
        answer, answer_lengths = _sums(digits, lengths)
    else:
        prompt_parts = [tokens[:, 0]]
        answer_lengths = lengths[:, 0]
        answer = tokens[:, 0] if task == "copy" else _reverse(tokens[:, 0], answer_lengths)
    prompts = _pack([*prompt_parts, np.full((n, 1), EQUALS)])
    prompt_lengths = (prompts != NULL).sum(axis=1)
    answers = _pack([np.full((n, 1), START), answer, np.full((n, 1), END)])
    sequences = _pack([prompts, answers[:, 1:]])                   # prompt answer <END>
    steps = np.arange(sequences.shape[1] - 1)
    mask = (steps >= prompt_lengths[:, None] - 1) & (sequences[:, 1:] != NULL)
    return SequenceTask(sequences[:, :-1], sequences[:, 1:], mask, prompts, prompt_lengths,
                        answers, answer_lengths)


def decode_tokens(tokens: np.ndarray) -> str | list[str]:
    """Token indices back to text: each row (or the one 1-D sequence) stops at its first <END>
    and skips <NULL> and <START>."""
    rows = np.asarray(tokens)
    texts = []
    for row in np.atleast_2d(rows).tolist():
        end = row.index(END) if END in row else len(row)
        texts.append("".join(TOKENS[t] for t in row[:end] if t not in (NULL, START)))
    return texts[0] if rows.ndim == 1 else texts


def _pack(parts: list[np.ndarray]) -> np.ndarray:
    """Pieces (n, width_k) whose tokens are right-padded with <NULL>, joined row by row with the
    padding moved to the end: (n, sum of widths) int64."""
    joined = np.concatenate(parts, axis=1).astype(np.int64)
    order = np.argsort(joined == NULL, axis=1, kind="stable")    # tokens first, in order
    return np.take_along_axis(joined, order, axis=1)


def _reverse(tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The first lengths[i] tokens of each row (n, M) reversed, the padding left at the end."""
    steps = np.arange(tokens.shape[1])
    index = np.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
    return np.take_along_axis(tokens, index, axis=1)


def _sums(digits: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sum of two numbers given by their digits (n, 2, M), most significant first, and
    lengths (n, 2): its tokens (n, M + 1), most significant first, then <NULL>, and its number
    of digits (n,)."""
    n, _, width = digits.shape
    # digits least significant first, zero past each number's length
    steps = np.arange(width)
    index = np.clip(lengths[..., None] - 1 - steps, 0, width - 1)
    backwards = np.where(steps < lengths[..., None], np.take_along_axis(digits, index, axis=2), 0)
    column = backwards.sum(axis=1)                                  # (n, M)
    result = np.zeros((n, width + 1), dtype=np.int64)
    carry = np.zeros(n, dtype=np.int64)
    for k in range(width):
        total = column[:, k] + carry
        result[:, k], carry = total % 10, total // 10
    result[:, width] = carry
    nonzero = result[:, ::-1] != 0
    sum_lengths = np.where(nonzero.any(axis=1), width + 1 - nonzero.argmax(axis=1), 1)
    tokens = _reverse(DIGIT0 + result, sum_lengths)
    return np.where(np.arange(width + 1) < sum_lengths[:, None], tokens, NULL), sum_lengths
