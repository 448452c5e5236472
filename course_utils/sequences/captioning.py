"""Image captioning with a recurrent network (CS231n's CaptioningRNN), in NumPy.

    features (N, D) --W_proj, b_proj--> h0 (N, H)
    words (N, T) --W_embed--> vectors (N, T, W) --RNN or LSTM from h0--> h (N, T, H)
    h --W_vocab, b_vocab--> scores (N, T, V) --temporal softmax loss, <NULL> masked-->

Training uses teacher forcing: the network reads captions[:, :-1] (starting with <START>) and
is scored on predicting captions[:, 1:]. Sampling feeds each predicted word back in.
"""

import numpy as np

from course_utils.graded import graded_in
from course_utils.sequences.lstm_layers import (
    lstm_backward,
    lstm_forward,
    lstm_step_forward,
)
from course_utils.sequences.rnn_layers import (
    rnn_backward,
    rnn_forward,
    rnn_step_forward,
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
    word_embedding_backward,
    word_embedding_forward,
)

Array = np.ndarray
CELL_TYPES = ("rnn", "lstm")


class CaptioningRNN:
    """Captions images from their feature vectors; parameters in `self.params`:

    W_proj (D, H), b_proj (H,): image features to the initial hidden state h0.
    W_embed (V, W): word vectors.
    Wx (W, G), Wh (H, G), b (G,): the recurrent cell, G = H for "rnn", 4H for "lstm".
    W_vocab (H, V), b_vocab (V,): hidden states to word scores.

    Args:
        word_to_idx: vocabulary {word: index}, V = len(word_to_idx) indices in [0, V); must hold
            "<NULL>" (padding); sampling also needs "<START>" and uses "<END>" when present.
        input_dim: D, size of an image feature vector.
        wordvec_dim: W, size of a word vector.
        hidden_dim: H, size of the hidden state.
        cell_type: "rnn" or "lstm".
        dtype: dtype of the parameters (float64 for gradient checks).
        seed: seed of the generator that draws the initial weights (Gaussian, scaled by
            1 / sqrt(fan-in); word vectors / 100; biases 0).
    """

    def __init__(self, word_to_idx: dict[str, int], input_dim: int = 512, wordvec_dim: int = 128,
                 hidden_dim: int = 128, cell_type: str = "rnn", dtype: type = np.float32,
                 seed: int = 0):
        if cell_type not in CELL_TYPES:
            raise ValueError(f"cell_type must be one of {CELL_TYPES}, got {cell_type!r}")
        if "<NULL>" not in word_to_idx:
            raise ValueError("word_to_idx needs a '<NULL>' (padding) entry")
        self.cell_type = cell_type
        self.dtype = dtype
        self.word_to_idx = word_to_idx
        self.idx_to_word = {i: w for w, i in word_to_idx.items()}
        self._null = word_to_idx["<NULL>"]
        self._start = word_to_idx.get("<START>")
        self._end = word_to_idx.get("<END>")

        V, D, W, H = len(word_to_idx), input_dim, wordvec_dim, hidden_dim
        G = 4 * H if cell_type == "lstm" else H
        rng = np.random.default_rng(seed)
        params = {
            "W_proj": rng.standard_normal((D, H)) / np.sqrt(D),
            "b_proj": np.zeros(H),
            "W_embed": rng.standard_normal((V, W)) / 100,
            "Wx": rng.standard_normal((W, G)) / np.sqrt(W),
            "Wh": rng.standard_normal((H, G)) / np.sqrt(H),
            "b": np.zeros(G),
            "W_vocab": rng.standard_normal((H, V)) / np.sqrt(H),
            "b_vocab": np.zeros(V),
        }
        self.params = {name: value.astype(dtype) for name, value in params.items()}

    @graded_in("ch10_rnn")
    def loss(self, features: Array, captions: Array) -> tuple[float, dict[str, Array]]:
        """Teacher-forced loss on a minibatch, and its gradients.

        Args:
            features: image features, shape (N, D).
            captions: word indices, shape (N, T + 1), each row <START> w_1 ... padded with
                <NULL>. The input is captions[:, :-1], the target captions[:, 1:]; targets equal
                to <NULL> are masked out.

        Returns:
            loss: temporal_softmax_loss's value (summed over the time steps, divided by N).
            grads: {name: dL/dparam} with the names, shapes and dtype of self.params.
        """
        p = self.params
        features = features.astype(self.dtype, copy=False)
        captions_in, captions_out = captions[:, :-1], captions[:, 1:]
        mask = captions_out != self._null

        h0 = features @ p["W_proj"] + p["b_proj"]
        x, embed_cache = word_embedding_forward(captions_in, p["W_embed"])
        cell_forward = rnn_forward if self.cell_type == "rnn" else lstm_forward
        h, cell_cache = cell_forward(x, h0, p["Wx"], p["Wh"], p["b"])
        scores, vocab_cache = temporal_affine_forward(h, p["W_vocab"], p["b_vocab"])
        loss, dscores = temporal_softmax_loss(scores, captions_out, mask)

        grads = {}
        dh, grads["W_vocab"], grads["b_vocab"] = temporal_affine_backward(dscores, vocab_cache)
        cell_backward = rnn_backward if self.cell_type == "rnn" else lstm_backward
        dx, dh0, grads["Wx"], grads["Wh"], grads["b"] = cell_backward(dh, cell_cache)
        grads["W_embed"] = word_embedding_backward(dx, embed_cache)
        grads["W_proj"] = features.T @ dh0
        grads["b_proj"] = dh0.sum(axis=0)
        return loss, grads

    @graded_in("ch10_rnn")
    def sample(self, features: Array, max_length: int = 30, temperature: float = 0.0,
               seed: int | None = None) -> Array:
        """Generate captions word by word, feeding each chosen word back in.

        h0 comes from the features, the first input is <START>. At temperature 0 each word is
        the highest-scoring one (greedy, as CS231n); at temperature τ > 0 it is drawn from
        softmax(scores / τ). Once a caption has written <END>, the rest of its row is <NULL>
        (CS231n keeps writing after <END>; here the captions stop).

        Args:
            features: image features, shape (N, D).
            max_length: T, the number of words to generate.
            temperature: τ >= 0; higher is more random.
            seed: seed of the generator that draws the words when τ > 0.

        Returns:
            captions: int64 word indices, shape (N, T), starting after <START> (the <END>, when
            written, included).
        """
        if self._start is None:
            raise ValueError("sampling needs a '<START>' entry in word_to_idx")
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        p = self.params
        features = features.astype(self.dtype, copy=False)
        N = features.shape[0]
        rng = np.random.default_rng(seed)
        captions = np.full((N, max_length), self._null, dtype=np.int64)
        finished = np.zeros(N, dtype=bool)
        h = features @ p["W_proj"] + p["b_proj"]
        c = np.zeros_like(h)
        word = np.full(N, self._start, dtype=np.int64)
        for t in range(max_length):
            x = p["W_embed"][word]
            if self.cell_type == "rnn":
                h, _ = rnn_step_forward(x, h, p["Wx"], p["Wh"], p["b"])
            else:
                h, c, _ = lstm_step_forward(x, h, c, p["Wx"], p["Wh"], p["b"])
            scores = h @ p["W_vocab"] + p["b_vocab"]
            if temperature > 0:
                # Gumbel-max: argmax(s / τ + Gumbel noise) is a draw from softmax(s / τ).
                scores = scores / temperature + rng.gumbel(size=scores.shape)
            word = np.where(finished, self._null, scores.argmax(axis=1))
            captions[:, t] = word
            finished |= word == self._end
        return captions
