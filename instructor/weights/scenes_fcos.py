"""Chapter 9's FCOS detector of the synthetic scenes, saved to course_utils/data/scenes_fcos.pt.

The recipe is course_utils.detection.fcos.train_fcos (from scratch on
training.training_scenes()); the score is its box mAP@0.5 on training.test_scenes() (500
held-out scenes) through training.evaluate_detector. The committed weights came from the
defaults (2400 steps of 16 scenes, seed 0, 1 thread, 212 s): test mAP@0.5 0.8866,
mAP@[0.5:0.95] 0.6615.
"""

from course_utils import data
from course_utils.detection import fcos, training
from instructor.weights import Weights


def test_map50(model) -> float:
    """Box mAP@0.5 on the held-out scenes."""
    return training.evaluate_detector(model, training.test_scenes())["mAP@0.5"]


WEIGHTS = Weights(__doc__.splitlines()[0],
                  lambda steps, seed: fcos.train_fcos(steps=steps, seed=seed),
                  test_map50, data.DATA_DIR / "scenes_fcos.pt", minimum=0.85,
                  metric="test mAP@0.5", length="steps", default_length=2400)
