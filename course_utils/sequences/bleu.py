"""Scores of generated captions against the several reference captions of each image.

BLEU-4 (Papineni et al., 2002) is the geometric mean of the modified n-gram precisions p_1..p_4
times a brevity penalty BP:

    BLEU = BP * exp(sum_n log(p_n) / 4),    BP = min(1, exp(1 - r / c)),

p_n = (n-grams of the hypotheses found in their references, each clipped to its largest count
in one reference) / (n-grams of the hypotheses), c the total hypothesis length and r the sum of
the reference lengths closest to each hypothesis's. It is NLTK's corpus_bleu: the counts are
summed over the whole corpus before dividing, not averaged per caption. One quirk of NLTK: a
hypothesis shorter than n words still counts one n-gram in p_n's denominator, so a correct
3-word caption ("a red square") lowers p_4 a little.

Tokenisation: lower case, split on white space (as encode_captions does; the captions have no
punctuation). No smoothing: corpus counts are zero only when no hypothesis in the whole corpus
shares a 4-gram with its references, and then BLEU-4 is honestly (about) 0; smoothing exists
for sentence-level BLEU, where one short caption easily has no matching 4-gram.
"""

import warnings
from collections.abc import Sequence

from nltk.translate.bleu_score import corpus_bleu


def tokenize(caption: str) -> list[str]:
    """A caption's words: lower case, split on white space."""
    return caption.lower().split()


def bleu4(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Corpus BLEU-4 with uniform weights, no smoothing.

    Args:
        hypotheses: N generated captions.
        references: N lists, each the reference captions of the same image (any number).

    Returns:
        BLEU-4 in [0, 1]; about 0 (NLTK returns a tiny positive number) when no 4-gram of the
        corpus matches.
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)      # NLTK's "0 counts of 4-gram overlaps"
        return float(corpus_bleu([[tokenize(r) for r in refs] for refs in references],
                                 [tokenize(h) for h in hypotheses]))


def exact_match(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """The fraction of hypotheses equal to one of their references, after tokenize."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    if not hypotheses:
        return 0.0
    hits = sum(tokenize(h) in [tokenize(r) for r in refs]
               for h, refs in zip(hypotheses, references, strict=True))
    return hits / len(hypotheses)
