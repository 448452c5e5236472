"""Small PyTorch sequence models trained on the copy / reverse / addition tasks of
course_utils.synthetic.sequence_tasks: a many-to-many tagger (one output per input token,
unidirectional or bidirectional) and an encoder-decoder whose only link is a context vector, the
encoder's final state, which becomes the decoder's initial state.

    task = make_sequence_task("reverse", 2000, seed=0)
    model = Seq2Seq(seed=0)
    history = train_seq2seq(model, task, steps=300)
    evaluate_seq2seq(model, make_sequence_task("reverse", 500, seed=1), teacher_forcing=False)

A tagger reads its sequence in one of two framings:

- "language_model": prompt + answer, the next token predicted at every step (the task's
  many-to-many arrays), scored on the answer. Reading the answer's own tokens, a bidirectional
  model would see what it must predict, so this framing is unidirectional only.
- "aligned": the prompt "d1 ... dL =" in, the answer out at the same positions ("3141=" ->
  "1413<END>"), for copy and reverse. For reverse the output at position t is d_{L+1-t}: a
  unidirectional model must name d_L at t = 1 before it has read it, so the first half of every
  answer is a guess (1 in 10) and it almost never gets a whole string right; a bidirectional one
  has read the whole prompt at every position and can.

Training (train_tagger, train_seq2seq) is seeded, AdamW with gradient clipping; evaluation
returns exact-match sequence accuracy and per-token accuracy on the answer's tokens and <END>.
Three experiments, each seconds on one CPU thread at its defaults (`steps` for longer runs):
exposure_bias_experiment (teacher-forced vs free-running decoding, optionally scheduled
sampling), bidirectional_experiment (aligned reverse) and copy_vs_addition_experiment.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.sequences.recurrent import train_with_clipping
from course_utils.synthetic.sequence_tasks import (
    NULL,
    START,
    TOKENS,
    SequenceTask,
    make_sequence_task,
)

Tensor = torch.Tensor
CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
FRAMINGS = ("language_model", "aligned")
VOCAB = len(TOKENS)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def tagger_arrays(task: SequenceTask, framing: str) -> tuple[Tensor, Tensor, Tensor]:
    """A task as a tagger reads it (framings in the module docstring).

    Returns:
        inputs: (N, T) tokens; T = P + A for "language_model", T = P for "aligned".
        targets: (N, T) the token to predict at each position.
        mask: (N, T) bool, the positions that are scored.
    """
    if framing == "language_model":
        arrays = task.inputs, task.targets, task.mask
    elif framing == "aligned":
        if task.answers.shape[1] - 1 != task.prompts.shape[1]:
            raise ValueError("the aligned framing needs an answer as long as its prompt "
                             "(copy or reverse)")
        targets = task.answers[:, 1:]                # answer <END> under the digits and "="
        arrays = task.prompts, targets, targets != NULL
    else:
        raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")
    return tuple(torch.from_numpy(np.asarray(a)) for a in arrays)


class SequenceTagger(nn.Module):
    """Embedding -> recurrent layer -> linear: logits for one token per input position."""

    def __init__(self, cell: str = "lstm", hidden_size: int = 64, embedding_size: int = 16,
                 bidirectional: bool = False, framing: str = "language_model", seed: int = 0):
        super().__init__()
        if framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")
        if bidirectional and framing == "language_model":
            raise ValueError("a bidirectional language model would read the tokens it predicts")
        self.framing = framing
        with torch.random.fork_rng(devices=[]):   # seeded, the global generator untouched
            torch.manual_seed(seed)
            self.embedding = nn.Embedding(VOCAB, embedding_size)
            self.rnn = CELLS[cell](embedding_size, hidden_size, batch_first=True,
                                   bidirectional=bidirectional)
            self.output = nn.Linear(hidden_size * (2 if bidirectional else 1), VOCAB)

    def forward(self, tokens: Tensor) -> Tensor:
        """tokens (N, T) -> logits (N, T, V)."""
        hidden, _ = self.rnn(self.embedding(tokens))
        return self.output(hidden)


class Seq2Seq(nn.Module):
    """Encoder and decoder RNNs joined by the encoder's final state (the context vector)."""

    def __init__(self, cell: str = "lstm", hidden_size: int = 64, embedding_size: int = 16,
                 seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.embedding = nn.Embedding(VOCAB, embedding_size)   # shared: one vocabulary
            self.encoder = CELLS[cell](embedding_size, hidden_size, batch_first=True)
            self.decoder = CELLS[cell](embedding_size, hidden_size, batch_first=True)
            self.output = nn.Linear(hidden_size, VOCAB)

    def encode(self, prompts: Tensor, lengths: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """The encoder's state after the last token of each prompt (N, P), padding skipped:
        h (1, N, H), or (h, c) for an LSTM."""
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(prompts), lengths.cpu(),
                                                   batch_first=True, enforce_sorted=False)
        return self.encoder(packed)[1]

    def forward(self, prompts: Tensor, lengths: Tensor, decoder_inputs: Tensor) -> Tensor:
        """Teacher forcing: logits (N, S, V) for the decoder reading decoder_inputs (N, S)."""
        hidden, _ = self.decoder(self.embedding(decoder_inputs), self.encode(prompts, lengths))
        return self.output(hidden)

    def step(self, tokens: Tensor, state) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        """One decoder step: the previous tokens (N,) -> logits (N, V), and the next state."""
        hidden, state = self.decoder(self.embedding(tokens)[:, None], state)
        return self.output(hidden[:, 0]), state

    @torch.no_grad()
    def generate(self, prompts: Tensor, lengths: Tensor, steps: int) -> Tensor:
        """Greedy free-running decoding from <START>, each step reading its own last output:
        tokens (N, steps)."""
        state = self.encode(prompts, lengths)
        tokens = torch.full((len(prompts),), START, device=prompts.device)
        outputs = []
        for _ in range(steps):
            logits, state = self.step(tokens, state)
            tokens = logits.argmax(dim=1)
            outputs.append(tokens)
        return torch.stack(outputs, dim=1)


def scheduled_sampling_logits(model: Seq2Seq, prompts: Tensor, lengths: Tensor,
                              decoder_inputs: Tensor, sampling_probability: float,
                              generator: torch.Generator) -> Tensor:
    """Logits (N, S, V) like model(...), except that at every step after the first each example
    reads, with probability sampling_probability, the model's own greedy prediction instead of
    the true previous token (scheduled sampling, Bengio et al. 2015, at a fixed rate)."""
    state = model.encode(prompts, lengths)
    tokens, logits = decoder_inputs[:, 0], []
    for t in range(decoder_inputs.shape[1]):
        if t > 0:
            own = torch.rand(len(tokens), generator=generator) < sampling_probability
            tokens = torch.where(own.to(tokens.device), logits[-1].argmax(dim=1).detach(),
                                 decoder_inputs[:, t])
        step_logits, state = model.step(tokens, state)
        logits.append(step_logits)
    return torch.stack(logits, dim=1)


def _masked_cross_entropy(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Mean cross-entropy over the positions where mask (N, T) is True; logits (N, T, V)."""
    return F.cross_entropy(logits[mask], targets[mask])


def _batches(n: int, steps: int, batch_size: int, seed: int) -> np.ndarray:
    """Example indices for each step, (steps, batch_size), drawn with replacement."""
    return np.random.default_rng(seed).integers(0, n, size=(steps, batch_size))


def train_tagger(model: SequenceTagger, task: SequenceTask, steps: int = 300,
                 batch_size: int = 64, lr: float = 1e-2, max_norm: float = 1.0, seed: int = 0,
                 progress: bool = True) -> dict[str, list[float]]:
    """Train a tagger in place on task (in model.framing) with AdamW on minibatches drawn with
    a generator seeded by seed. Returns train_with_clipping's history (loss, grad_norm, ...)."""
    inputs, targets, mask = (a.to(_device(model)) for a in tagger_arrays(task, model.framing))
    batches = _batches(len(task), steps, batch_size, seed)
    model.train()

    def loss_fn(step: int) -> Tensor:
        batch = torch.from_numpy(batches[step]).to(inputs.device)
        return _masked_cross_entropy(model(inputs[batch]), targets[batch], mask[batch])

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    return train_with_clipping(model, loss_fn, optimizer, steps, max_norm, progress, "tagger")


def train_seq2seq(model: Seq2Seq, task: SequenceTask, steps: int = 300, batch_size: int = 64,
                  lr: float = 1e-2, max_norm: float = 1.0, sampling_probability: float = 0.0,
                  seed: int = 0, progress: bool = True) -> dict[str, list[float]]:
    """Train an encoder-decoder in place with teacher forcing (the decoder reads the true
    previous tokens), or with scheduled sampling when sampling_probability > 0; AdamW,
    minibatches and coin flips seeded by seed. Returns train_with_clipping's history."""
    device = _device(model)
    prompts, lengths, answers = (torch.from_numpy(np.asarray(a)).to(device)
                                 for a in (task.prompts, task.prompt_lengths, task.answers))
    batches = _batches(len(task), steps, batch_size, seed)
    generator = torch.Generator().manual_seed(seed)
    model.train()

    def loss_fn(step: int) -> Tensor:
        batch = torch.from_numpy(batches[step]).to(device)
        decoder_inputs, targets = answers[batch, :-1], answers[batch, 1:]
        if sampling_probability > 0:
            logits = scheduled_sampling_logits(model, prompts[batch], lengths[batch],
                                               decoder_inputs, sampling_probability, generator)
        else:
            logits = model(prompts[batch], lengths[batch], decoder_inputs)
        return _masked_cross_entropy(logits, targets, targets != NULL)

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    return train_with_clipping(model, loss_fn, optimizer, steps, max_norm, progress, "seq2seq")


def _accuracies(predictions: Tensor, targets: Tensor, mask: Tensor) -> dict[str, float]:
    correct = predictions == targets
    return {"sequence_accuracy": (correct | ~mask).all(dim=1).float().mean().item(),
            "token_accuracy": correct[mask].float().mean().item()}


@torch.no_grad()
def evaluate_tagger(model: SequenceTagger, task: SequenceTask) -> dict[str, float]:
    """Accuracy of the tagger's argmax on task's scored positions (its framing's mask).

    Returns:
        sequence_accuracy: fraction of examples with every scored position right.
        token_accuracy: fraction of scored positions right.
    """
    inputs, targets, mask = (a.to(_device(model)) for a in tagger_arrays(task, model.framing))
    model.eval()
    return _accuracies(model(inputs).argmax(dim=2), targets, mask)


@torch.no_grad()
def evaluate_seq2seq(model: Seq2Seq, task: SequenceTask,
                     teacher_forcing: bool = False) -> dict[str, float]:
    """Accuracy of the decoder on the answer's tokens and its <END>, position by position.

    teacher_forcing=True feeds the true previous token at every step (as in training);
    False decodes greedily from the model's own outputs (as in use). A whole answer right
    under teacher forcing is also what greedy decoding writes, so sequence_accuracy is the same
    both ways; token_accuracy falls when decoding free, since one mistake derails what follows
    (exposure bias: the model never saw its own mistakes while training).

    Returns:
        sequence_accuracy, token_accuracy: as evaluate_tagger's.
    """
    device = _device(model)
    prompts, lengths, answers = (torch.from_numpy(np.asarray(a)).to(device)
                                 for a in (task.prompts, task.prompt_lengths, task.answers))
    targets = answers[:, 1:]
    model.eval()
    if teacher_forcing:
        predictions = model(prompts, lengths, answers[:, :-1]).argmax(dim=2)
    else:
        predictions = model.generate(prompts, lengths, targets.shape[1])
    return _accuracies(predictions, targets, targets != NULL)


def _train_and_test(task_name: str, n_train: int, n_test: int, max_length: int,
                    seed: int) -> tuple[SequenceTask, SequenceTask]:
    """Disjoint seeds for training and held-out examples."""
    return (make_sequence_task(task_name, n_train, seed=seed, max_length=max_length),
            make_sequence_task(task_name, n_test, seed=seed + 1, max_length=max_length))


def exposure_bias_experiment(task_name: str = "reverse", steps: int = 300, max_length: int = 8,
                             sampling_probability: float | None = None, seed: int = 0,
                             progress: bool = True) -> dict[str, dict[str, float]]:
    """Train a Seq2Seq with teacher forcing and score it on 500 held-out examples fed the true
    previous tokens ("teacher_forced") and decoding greedily from its own ("free_running");
    with sampling_probability, also train one with scheduled sampling and score it free
    running ("scheduled_sampling")."""
    train, test = _train_and_test(task_name, 4000, 500, max_length, seed)
    model = Seq2Seq(seed=seed)
    train_seq2seq(model, train, steps=steps, seed=seed, progress=progress)
    results = {"teacher_forced": evaluate_seq2seq(model, test, teacher_forcing=True),
               "free_running": evaluate_seq2seq(model, test, teacher_forcing=False)}
    if sampling_probability is not None:
        sampled = Seq2Seq(seed=seed)
        train_seq2seq(sampled, train, steps=steps, sampling_probability=sampling_probability,
                      seed=seed, progress=progress)
        results["scheduled_sampling"] = evaluate_seq2seq(sampled, test, teacher_forcing=False)
    return results


def bidirectional_experiment(steps: int = 300, max_length: int = 6, seed: int = 0,
                             progress: bool = True) -> dict[str, dict[str, float]]:
    """Unidirectional and bidirectional LSTM taggers on reverse in the aligned framing (module
    docstring), scored on 500 held-out examples."""
    train, test = _train_and_test("reverse", 4000, 500, max_length, seed)
    results = {}
    for name, bidirectional in (("unidirectional", False), ("bidirectional", True)):
        model = SequenceTagger(bidirectional=bidirectional, framing="aligned", seed=seed)
        train_tagger(model, train, steps=steps, seed=seed, progress=progress)
        results[name] = evaluate_tagger(model, test)
    return results


def copy_vs_addition_experiment(steps: int = 300, max_length: int = 8, seed: int = 0,
                                progress: bool = True) -> dict[str, dict[str, float]]:
    """The same LSTM language-model tagger trained as long on copy and on addition: copying
    needs memory only, addition also carries, which run from the last digits to the first
    while the answer is written first digit first."""
    results = {}
    for task_name in ("copy", "addition"):
        train, test = _train_and_test(task_name, 4000, 500, max_length, seed)
        model = SequenceTagger(seed=seed)
        train_tagger(model, train, steps=steps, seed=seed, progress=progress)
        results[task_name] = evaluate_tagger(model, test)
    return results
