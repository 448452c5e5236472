"""Chapter 10's image features of caption scenes, saved to
course_utils/data/caption_features.pt.

The recipe is course_utils.sequences.caption_features.train_caption_features (from scratch on
20,000 caption scenes of MNIST training digits, batch 128, AdamW with a one-cycle learning
rate); the score is the mean of its five attribute accuracies (object, colour, size, relation,
count) on caption_features.test_scenes() (1,000 scenes of MNIST test digits) through
evaluate_caption_features. The committed weights came from the defaults (1000 steps, seed 0,
1 thread, 324 s on a busy 2-core machine; about 180 s at the 5.5 steps/s
of an idle core): mean accuracy 0.9618
(object 0.8548, colour 0.9926, size 0.9686, relation 0.998, count 0.995).
"""

from course_utils import data
from course_utils.sequences import caption_features
from instructor.weights import Weights


def mean_accuracy(model) -> float:
    """The mean attribute accuracy on the held-out caption scenes."""
    scores = caption_features.evaluate_caption_features(model, caption_features.test_scenes())
    print({name: round(value, 4) for name, value in scores.items()})
    return scores["mean"]


WEIGHTS = Weights(__doc__.splitlines()[0],
                  lambda steps, seed: caption_features.train_caption_features(steps, seed),
                  mean_accuracy, data.DATA_DIR / "caption_features.pt", minimum=0.8,
                  metric="mean attribute accuracy", length="steps", default_length=1000)
