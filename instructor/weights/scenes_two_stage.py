"""Chapter 9's two-stage detector (Faster R-CNN with a mask head), saved to scenes_two_stage.pt.

The recipe is course_utils.detection.two_stage.train_two_stage, on training.training_scenes();
the score is the box mAP@0.5 of training.evaluate_detector on training.test_scenes(), 500 scenes
with MNIST test digits and texture crops it never trained on. The committed weights came from
the defaults (1200 steps of 16 scenes, seed 0, 1 thread, 232 s): box mAP@0.5 0.8959,
mAP@[0.5:0.95] 0.6496; mask mAP@0.5 0.7760, mAP@[0.5:0.95] 0.4916.
"""

from course_utils import data
from course_utils.detection import training, two_stage
from instructor.weights import Weights


def held_out_map(model) -> float:
    """Box mAP@0.5 on the held-out scenes."""
    return training.evaluate_detector(model, training.test_scenes())["mAP@0.5"]


WEIGHTS = Weights(__doc__.splitlines()[0],
                  lambda steps, seed: two_stage.train_two_stage(steps=steps, seed=seed),
                  held_out_map, data.DATA_DIR / "scenes_two_stage.pt", minimum=0.8,
                  metric="test mAP@0.5", length="steps", default_length=1200)
