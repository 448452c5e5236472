"""Chapter 8's fast style transfer (Hubble deep field), saved to course_utils/data/hubble_style.pt.

The recipe is course_utils.visualization.fast_style.train_hubble_style; the score is its
held_out_loss_reduction on the astronaut, a photo it never trained on. The committed weights
came from the defaults (300 steps, seed 0, 1 thread): held-out loss reduction 0.9613.
"""

from course_utils import pretrained
from course_utils.visualization import fast_style
from instructor.weights import Weights

WEIGHTS = Weights(__doc__.splitlines()[0],
                  lambda steps, seed: fast_style.train_hubble_style(steps=steps, seed=seed),
                  fast_style.held_out_loss_reduction, pretrained.HUBBLE_STYLE_PATH, minimum=0.9,
                  metric="held-out loss reduction", length="steps", default_length=300)
