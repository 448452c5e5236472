"""Chapter 9's segmentation network of the synthetic scenes, saved to
course_utils/data/scenes_fcn.pt.

The recipe is course_utils.detection.fcn.train_segmentation_net (from scratch on
training.training_scenes()); the score is its mIoU (background included) on
training.test_scenes() (500 held-out scenes) through fcn.evaluate_segmentation. The committed
weights came from the defaults (2000 steps, seed 0, 1 thread, 258 s): test mIoU 0.7399.
"""

from course_utils import data
from course_utils.detection import fcn, training
from instructor.weights import Weights


def test_miou(model) -> float:
    """Mean IoU over the 7 classes on the held-out scenes."""
    return fcn.evaluate_segmentation(model, training.test_scenes())["mIoU"]


WEIGHTS = Weights(__doc__.splitlines()[0],
                  lambda steps, seed: fcn.train_segmentation_net(steps=steps, seed=seed),
                  test_miou, data.DATA_DIR / "scenes_fcn.pt", minimum=0.6,
                  metric="test mIoU", length="steps", default_length=2000)
