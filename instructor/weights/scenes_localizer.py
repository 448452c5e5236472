"""Chapter 9's classification-plus-localisation network of single-object scenes, saved to
course_utils/data/scenes_localizer.pt.

The recipe is course_utils.detection.localization.train_localizer (from scratch on
localization.training_scenes(), 4,000 single-object scenes); the score is its classification
accuracy on localization.test_scenes() (500 held-out ones) through evaluate_localizer, which
also prints the box IoU. The committed weights came from the defaults (1000 steps, seed 0, 1
thread, 157 s): test accuracy 0.9780, mean IoU 0.7609, IoU >= 0.5 for 0.966.
"""

from course_utils import data
from course_utils.detection import localization
from instructor.weights import Weights


def test_accuracy(model) -> float:
    """Class accuracy on the held-out single-object scenes (and the box IoU, printed)."""
    result = localization.evaluate_localizer(model, localization.test_scenes())
    print(f"mean IoU {result['mean IoU']:.4f}, IoU >= 0.5 for "
          f"{result['IoU >= 0.5 fraction']:.3f} of the images")
    return result["accuracy"]


WEIGHTS = Weights(__doc__.splitlines()[0],
                  lambda steps, seed: localization.train_localizer(steps=steps, seed=seed),
                  test_accuracy, data.DATA_DIR / "scenes_localizer.pt", minimum=0.9,
                  metric="test accuracy", length="steps", default_length=1000)
