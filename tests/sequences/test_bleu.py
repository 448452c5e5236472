"""BLEU-4 and exact match on hand-computed cases."""

import math

import pytest

from course_utils.sequences.bleu import bleu4, exact_match, tokenize

REFERENCE = "a red square left of a blue seven"


def test_tokenize_lower_cases_and_splits_on_white_space():
    assert tokenize("A  Red\tsquare ") == ["a", "red", "square"]


def test_identical_captions_score_one():
    assert bleu4([REFERENCE, "a small red square"],
                 [[REFERENCE], ["a small red square"]]) == pytest.approx(1.0)


def test_the_closest_of_several_references_counts():
    assert bleu4(["A large blue seven right of a small red square"],
                 [["a small red square left of a large blue seven",
                   "a large blue seven right of a small red square",
                   REFERENCE]]) == pytest.approx(1.0)


def test_one_wrong_last_word():
    # p_1..p_4 = 7/8, 6/7, 5/6, 4/5 (only the n-grams ending in "circle" miss), BP = 1
    score = bleu4(["a red square left of a blue circle"], [[REFERENCE]])
    assert score == pytest.approx((7 / 8 * 6 / 7 * 5 / 6 * 4 / 5) ** 0.25)   # 0.5 ** 0.25


def test_a_short_caption_pays_the_brevity_penalty():
    # every n-gram matches; c = 7 words, r = 8: BP = exp(1 - 8 / 7)
    score = bleu4(["a red square left of a blue"], [[REFERENCE]])
    assert score == pytest.approx(math.exp(1 - 8 / 7))


def test_counts_are_summed_over_the_corpus():
    # every n-gram matches, but NLTK counts at least one n-gram per hypothesis: the 3-word
    # caption adds 0 / 1 to p_4, which is 5 / (5 + 1)
    assert bleu4(["a red square", REFERENCE],
                 [["a red square"], [REFERENCE]]) == pytest.approx((5 / 6) ** 0.25)


def test_no_matching_four_gram_scores_zero():
    assert bleu4(["a blue seven above a red square"], [[REFERENCE]]) == pytest.approx(0.0)


def test_exact_match_is_the_fraction_equal_to_a_reference():
    hypotheses = ["A red square", "a blue seven", "a small red square"]
    references = [["a small red square", "a red square"], ["a blue one"],
                  ["a small red square"]]
    assert exact_match(hypotheses, references) == pytest.approx(2 / 3)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="reference lists"):
        bleu4(["a red square"], [])
    with pytest.raises(ValueError, match="reference lists"):
        exact_match([], [["a red square"]])
