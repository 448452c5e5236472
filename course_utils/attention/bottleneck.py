"""The bottleneck that attention removes, and what attention costs instead.

Chapter 10's Seq2Seq (course_utils.sequences.seq2seq) squeezes the whole prompt into one
context vector, the encoder's final state. AttentionSeq2Seq keeps every encoder state h_j and
lets the decoder look back at all of them at every step with additive (Bahdanau, MLP-scored)
attention, from the decoder's previous state s:

    score(s, h_j) = vᵀ tanh(W s + U h_j)        e = softmax over the non-padded j
    context = Σ_j e_j h_j                        the decoder reads [embedding(y); context]

    task = make_sequence_task("reverse", 4000, seed=0, max_length=12)
    model = AttentionSeq2Seq(seed=0)
    train_attention_seq2seq(model, task, steps=300)
    evaluate_attention_seq2seq(model, make_sequence_task("reverse", 500, seed=1, max_length=12))

Two experiments for the notes' plots, seconds on one CPU thread at their defaults:
bottleneck_experiment (held-out accuracy against input length, fixed context vs attention)
and cost_against_length (time and memory of an LSTM layer vs a transformer encoder layer
against sequence length: the RNN takes S sequential steps, attention is parallel but stores
N·H·S² scores).
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from torch import nn

from course_utils.attention.transformer import TransformerEncoderLayer
from course_utils.sequences.recurrent import train_with_clipping
from course_utils.sequences.seq2seq import (
    CELLS,
    VOCAB,
    Seq2Seq,
    _accuracies,
    _batches,
    _device,
    _masked_cross_entropy,
    evaluate_seq2seq,
    train_seq2seq,
)
from course_utils.synthetic.sequence_tasks import NULL, START, SequenceTask, make_sequence_task

Tensor = torch.Tensor
State = Tensor | tuple[Tensor, Tensor]


class AdditiveAttention(nn.Module):
    """Bahdanau's MLP score vᵀ tanh(W s + U h_j), softmaxed over the allowed positions j."""

    def __init__(self, query_size: int, key_size: int, attention_size: int):
        super().__init__()
        self.query = nn.Linear(query_size, attention_size, bias=False)   # W
        self.key = nn.Linear(key_size, attention_size)                   # U (and a bias)
        self.score = nn.Linear(attention_size, 1, bias=False)            # v

    def forward(self, query: Tensor, keys: Tensor, projected_keys: Tensor,
                mask: Tensor) -> tuple[Tensor, Tensor]:
        """Attend from one query per example.

        Args:
            query: the decoder state s, shape (N, Hd).
            keys: the encoder states h, shape (N, P, He).
            projected_keys: self.key(keys), shape (N, P, A), computed once per prompt.
            mask: (N, P) bool, True at the positions that may be attended to.

        Returns:
            context: Σ_j e_j h_j, shape (N, He).
            weights: e, shape (N, P); each row sums to 1 and is exactly 0 where mask is False.
        """
        scores = self.score(torch.tanh(self.query(query)[:, None] + projected_keys))[..., 0]
        weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=1)
        return (weights[:, :, None] * keys).sum(dim=1), weights


class AttentionSeq2Seq(nn.Module):
    """Encoder and decoder RNNs; the decoder starts from the encoder's final state, as in
    Seq2Seq, and at every step also reads a context vector attended over all encoder states.

    Step t: context_t, e_t = attention(s_{t-1}, h); s_t = decoder([embedding(y_{t-1});
    context_t], s_{t-1}); logits_t = output([s_t; context_t]).
    """

    def __init__(self, cell: str = "lstm", hidden_size: int = 64, embedding_size: int = 16,
                 attention_size: int | None = None, seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):   # seeded, the global generator untouched
            torch.manual_seed(seed)
            self.embedding = nn.Embedding(VOCAB, embedding_size)   # shared: one vocabulary
            self.encoder = CELLS[cell](embedding_size, hidden_size, batch_first=True)
            self.decoder = CELLS[cell](embedding_size + hidden_size, hidden_size,
                                       batch_first=True)
            self.attention = AdditiveAttention(hidden_size, hidden_size,
                                               attention_size or hidden_size)
            self.output = nn.Linear(2 * hidden_size, VOCAB)

    def encode(self, prompts: Tensor, lengths: Tensor) -> tuple[Tensor, State, Tensor]:
        """Read prompts (N, P), padding skipped.

        Returns:
            memory: (keys (N, P, H), projected keys (N, P, A), mask (N, P) True at tokens);
                the encoder states are 0 at padding.
            state: the encoder's final state, h (1, N, H) or (h, c) for an LSTM.
        """
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(prompts), lengths.cpu(),
                                                   batch_first=True, enforce_sorted=False)
        outputs, state = self.encoder(packed)
        keys, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True,
                                                   total_length=prompts.shape[1])
        mask = torch.arange(prompts.shape[1], device=prompts.device) < lengths[:, None]
        return (keys, self.attention.key(keys), mask), state

    def step(self, tokens: Tensor, state: State,
             memory: tuple[Tensor, Tensor, Tensor]) -> tuple[Tensor, State, Tensor]:
        """One decoder step: the previous tokens (N,) -> logits (N, V), the next state and the
        attention weights (N, P) over the prompt."""
        keys, projected_keys, mask = memory
        hidden = state[0] if isinstance(state, tuple) else state          # (1, N, H)
        context, weights = self.attention(hidden[-1], keys, projected_keys, mask)
        inputs = torch.cat([self.embedding(tokens), context], dim=1)[:, None]
        output, state = self.decoder(inputs, state)
        return self.output(torch.cat([output[:, 0], context], dim=1)), state, weights

    def forward(self, prompts: Tensor, lengths: Tensor,
                decoder_inputs: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher forcing on decoder_inputs (N, S): logits (N, S, V) and attention weights
        (N, S, P), row t the weights over the prompt when writing output t."""
        memory, state = self.encode(prompts, lengths)
        logits, weights = [], []
        for t in range(decoder_inputs.shape[1]):
            step_logits, state, step_weights = self.step(decoder_inputs[:, t], state, memory)
            logits.append(step_logits)
            weights.append(step_weights)
        return torch.stack(logits, dim=1), torch.stack(weights, dim=1)

    @torch.no_grad()
    def generate(self, prompts: Tensor, lengths: Tensor, steps: int) -> tuple[Tensor, Tensor]:
        """Greedy free-running decoding from <START>: tokens (N, steps) and attention weights
        (N, steps, P)."""
        memory, state = self.encode(prompts, lengths)
        tokens = torch.full((len(prompts),), START, device=prompts.device)
        outputs, weights = [], []
        for _ in range(steps):
            logits, state, step_weights = self.step(tokens, state, memory)
            tokens = logits.argmax(dim=1)
            outputs.append(tokens)
            weights.append(step_weights)
        return torch.stack(outputs, dim=1), torch.stack(weights, dim=1)


def _task_tensors(task: SequenceTask, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    return tuple(torch.from_numpy(np.asarray(a)).to(device)
                 for a in (task.prompts, task.prompt_lengths, task.answers))


def train_attention_seq2seq(model: AttentionSeq2Seq, task: SequenceTask, steps: int = 300,
                            batch_size: int = 64, lr: float = 1e-2, max_norm: float = 1.0,
                            seed: int = 0, progress: bool = True) -> dict[str, list[float]]:
    """Train in place with teacher forcing, AdamW, gradient clipping and minibatches drawn with
    a generator seeded by seed, as train_seq2seq. Returns train_with_clipping's history (loss,
    grad_norm, update_norm per step)."""
    prompts, lengths, answers = _task_tensors(task, _device(model))
    batches = _batches(len(task), steps, batch_size, seed)
    model.train()

    def loss_fn(step: int) -> Tensor:
        batch = torch.from_numpy(batches[step]).to(prompts.device)
        decoder_inputs, targets = answers[batch, :-1], answers[batch, 1:]
        logits, _ = model(prompts[batch], lengths[batch], decoder_inputs)
        return _masked_cross_entropy(logits, targets, targets != NULL)

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    return train_with_clipping(model, loss_fn, optimizer, steps, max_norm, progress,
                               "attention seq2seq")


@torch.no_grad()
def evaluate_attention_seq2seq(model: AttentionSeq2Seq, task: SequenceTask,
                               teacher_forcing: bool = False) -> dict[str, float]:
    """Accuracy on the answer's tokens and its <END>, as evaluate_seq2seq: teacher-forced, or
    greedy free-running decoding (the default, as in use).

    Returns:
        sequence_accuracy: fraction of answers entirely right.
        token_accuracy: fraction of answer tokens (and <END>s) right.
    """
    prompts, lengths, answers = _task_tensors(task, _device(model))
    targets = answers[:, 1:]
    model.eval()
    if teacher_forcing:
        predictions = model(prompts, lengths, answers[:, :-1])[0].argmax(dim=2)
    else:
        predictions = model.generate(prompts, lengths, targets.shape[1])[0]
    return _accuracies(predictions, targets, targets != NULL)


def bottleneck_experiment(lengths: tuple[int, ...] = (2, 4, 6, 8, 10, 12), steps: int = 400,
                          task_name: str = "reverse", hidden_size: int = 64, n_train: int = 4000,
                          n_test: int = 200, seed: int = 0,
                          progress: bool = True
                          ) -> tuple[dict[str, dict[int, dict[str, float]]], dict[str, nn.Module]]:
    """Train a Seq2Seq (one fixed context vector) and an AttentionSeq2Seq, same width, steps
    and batches, on task_name with 1 to max(lengths) digits; score both, decoding free, on
    n_test held-out strings of exactly each length.

    At the defaults this takes about 17 s on one CPU thread (measured; the attention model, a
    Python loop over decoder steps, is most of it); pass steps for a longer run. Measured at
    the defaults, sequence accuracy at lengths 2..12: fixed context 1.00, 0.99, 0.94, 0.69,
    0.30, 0.07; attention 1.00 up to length 10, 0.98 at 12. On two threads the sums round
    differently and the trained models differ a little: fixed context 0.28 and 0.05 at
    lengths 10 and 12, attention 0.91 at 12.

    Returns:
        results[model][length] = {"sequence_accuracy", "token_accuracy"}, model in
        ("fixed_context", "attention"), and the two trained models under the same names.
    """
    max_length = max(lengths)
    train = make_sequence_task(task_name, n_train, seed=seed, max_length=max_length)
    tests = {length: make_sequence_task(task_name, n_test, seed=seed + 1, min_length=length,
                                        max_length=length)
             for length in lengths}
    fixed = Seq2Seq(hidden_size=hidden_size, seed=seed)
    train_seq2seq(fixed, train, steps=steps, seed=seed, progress=progress)
    attention = AttentionSeq2Seq(hidden_size=hidden_size, seed=seed)
    train_attention_seq2seq(attention, train, steps=steps, seed=seed, progress=progress)
    results = {"fixed_context": {n: evaluate_seq2seq(fixed, test) for n, test in tests.items()},
               "attention": {n: evaluate_attention_seq2seq(attention, test)
                             for n, test in tests.items()}}
    return results, {"fixed_context": fixed, "attention": attention}


def _forward_backward_seconds(layer: nn.Module, x: Tensor, repeats: int) -> float:
    """Median wall time of forward + backward of layer(x).sum(), after one warm-up."""
    def once() -> None:
        output = layer(x)
        output = output[0] if isinstance(output, tuple) else output
        output.sum().backward()

    once()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _saved_floats(layer: nn.Module, x: Tensor) -> int:
    """Elements of the tensors autograd saves for backward in one forward of layer(x), counted
    by a saved_tensors_hooks pack hook (a tensor saved twice counts twice; parameters and
    the input count too)."""
    count = 0

    def pack(tensor: Tensor) -> Tensor:
        nonlocal count
        count += tensor.numel()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        layer(x)
    return count


def cost_against_length(lengths: tuple[int, ...] = (64, 128, 256, 512, 1024),
                        batch_size: int = 4, width: int = 64, num_heads: int = 4,
                        repeats: int = 3, seed: int = 0) -> dict[str, list[float]]:
    """Forward + backward cost of one nn.LSTM(width, width) layer and one
    TransformerEncoderLayer(width, num_heads, dim_feedforward=4·width, dropout 0), both on
    x (batch_size, S, width), against S. Times are time.perf_counter medians of `repeats`
    runs after a warm-up, on whatever threads torch uses; memory is counted, not measured:
    attention_scores is exactly N·H·S² (the entries of the attention matrix the layer
    builds), and *_saved_floats the elements autograd saves for backward (_saved_floats).
    The LSTM's cost grows as S (S sequential steps), attention's scores as S². About 2 s at
    the defaults on one CPU thread. On one CPU thread the parallelism of attention buys
    nothing, so there its S² work shows in the time too (at S = 1024 measured 0.27 s against
    the LSTM's 0.012 s); on a GPU the S sequential steps are what the RNN pays for.

    Returns:
        lists aligned with "length": "lstm_seconds", "attention_seconds",
        "attention_scores", "lstm_saved_floats", "attention_saved_floats".
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        lstm = nn.LSTM(width, width, batch_first=True)
        transformer = TransformerEncoderLayer(width, num_heads, dim_feedforward=4 * width,
                                              dropout=0.0)
        inputs = {s: torch.randn(batch_size, s, width, requires_grad=True) for s in lengths}
    results: dict[str, list[float]] = {key: [] for key in (
        "length", "lstm_seconds", "attention_seconds", "attention_scores",
        "lstm_saved_floats", "attention_saved_floats")}
    for s in lengths:
        x = inputs[s]
        results["length"].append(s)
        results["lstm_seconds"].append(_forward_backward_seconds(lstm, x, repeats))
        results["attention_seconds"].append(_forward_backward_seconds(transformer, x, repeats))
        results["attention_scores"].append(batch_size * num_heads * s * s)
        results["lstm_saved_floats"].append(_saved_floats(lstm, x))
        results["attention_saved_floats"].append(_saved_floats(transformer, x))
    return results
