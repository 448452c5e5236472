"""Training and scoring the NumPy CaptioningRNN: CS231n's CaptioningSolver, simplified (random
minibatches of caption rows, Adam at a constant learning rate, no epochs), and BLEU-4 / exact
match of greedy captions.

The update rule is chapter 3's course_utils.optim.adam, so chapter 3 must be closed for grading
before chapter 10 is handed out.
"""

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from course_utils.optim import adam
from course_utils.sequences.bleu import bleu4, exact_match
from course_utils.sequences.captioning import CaptioningRNN
from course_utils.synthetic.captions import MAX_WORDS, decode_captions


def train_captioner(model: CaptioningRNN, data: dict, steps: int = 1000, batch_size: int = 100,
                    learning_rate: float = 5e-3, seed: int = 0, progress: bool = True
                    ) -> list[float]:
    """Train `model` in place on data's training captions, one minibatch a step.

    Args:
        model: a CaptioningRNN whose input_dim is the features' D.
        data: as load_caption_data makes it with `featurize`: "train_captions" (Nc, T + 2),
            "train_image_idxs" (Nc,) and "train_features" (N, D).
        steps: how many updates.
        batch_size: caption rows per step, drawn uniformly with replacement.
        learning_rate: Adam's, constant.
        seed: seed of the minibatch draws.
        progress: show a tqdm bar.

    Returns:
        the loss of each step.
    """
    captions, image_idxs = data["train_captions"], data["train_image_idxs"]
    features = data["train_features"]
    rng = np.random.default_rng(seed)
    configs = {name: {"learning_rate": learning_rate} for name in model.params}
    history = []
    bar = tqdm(range(steps), desc=f"captioning {model.cell_type}", disable=not progress,
               mininterval=1)
    for _ in bar:
        batch = rng.integers(len(captions), size=batch_size)
        loss, grads = model.loss(features[image_idxs[batch]], captions[batch])
        for name, grad in grads.items():
            model.params[name], configs[name] = adam(model.params[name], grad, configs[name])
        history.append(float(loss))
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
    return history


class Captioner(Protocol):
    """What evaluate_captioner needs: CaptioningRNN, or chapter 11's CaptioningTransformer."""

    def sample(self, features: np.ndarray, max_length: int) -> np.ndarray: ...


def evaluate_captioner(model: Captioner, features: np.ndarray,
                       references: Sequence[Sequence[str]], idx_to_word: Sequence[str],
                       max_length: int = MAX_WORDS + 1) -> dict[str, float]:
    """Greedy captions (temperature 0) of N images scored against their references.

    Args:
        model: anything with sample(features (N, D), max_length) -> word ids (N, max_length).
        features: (N, D) image features.
        references: N lists of reference captions.
        idx_to_word: the words by index.
        max_length: words to generate, <END> included.

    Returns:
        {"BLEU-4": corpus BLEU-4, "exact match": the fraction of captions equal to a reference}.
    """
    hypotheses = decode_captions(model.sample(features, max_length), idx_to_word)
    return {"BLEU-4": bleu4(hypotheses, references),
            "exact match": exact_match(hypotheses, references)}
