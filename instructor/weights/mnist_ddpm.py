"""The class-conditional diffusion U-Net of chapter 13, saved to course_utils/data/mnist_ddpm.pt.

The recipe is course_utils.generative.diffusion.train_ddpm (14 x 14 MNIST, T = 1000 linear
schedule, p_uncond 0.15, Adam with an EMA of the weights; the EMA weights are saved). The score
is the accuracy of the committed MNIST ResNet on 500 class-conditional DDIM samples (25 steps,
50 per class, guidance scale 1, seed 0) upsampled bilinearly to 28 x 28. The committed weights
came from `PYTHONPATH=. python -m instructor.weights mnist_ddpm --threads 1` (3600 steps of 64
digits, seed 0, 1 thread, 537 s on a shared 2-core machine; last epoch's mean loss 0.0404):
conditional sample accuracy 0.978.
"""

import torch
from torch.nn import functional as F

from course_utils import pretrained, training
from course_utils.generative import diffusion
from instructor.weights import Weights

GUIDANCE_SCALE = 1.0
STEPS_PER_EPOCH = 938   # 60,000 digits in batches of 64


def conditional_sample_accuracy(model: torch.nn.Module, guidance_scale: float = GUIDANCE_SCALE,
                                steps: int = 25, per_class: int = 50, seed: int = 0) -> float:
    """The MNIST ResNet's accuracy on per_class DDIM samples of each digit (labels 0 0 .. 9 9)."""
    labels = torch.arange(10).repeat_interleave(per_class)
    images = diffusion.ddim_sample(model, (len(labels), 1, diffusion.MNIST_DDPM_IMAGE_SIZE,
                                           diffusion.MNIST_DDPM_IMAGE_SIZE),
                                   diffusion.make_schedule(diffusion.MNIST_DDPM_TIMESTEPS),
                                   steps=steps, class_labels=labels,
                                   guidance_scale=guidance_scale, seed=seed)
    upsampled = F.interpolate(images, size=(28, 28), mode="bilinear", align_corners=False)
    logits = training.predict(pretrained.load_mnist_resnet(), upsampled)
    return float((logits.argmax(dim=1) == labels).float().mean())


def _recipe(steps: int, seed: int) -> tuple[torch.nn.Module, dict]:
    epochs = -(-steps // STEPS_PER_EPOCH)
    return diffusion.train_ddpm(epochs=epochs, max_steps=steps, seed=seed)


WEIGHTS = Weights(__doc__.splitlines()[0], _recipe, conditional_sample_accuracy,
                  diffusion.MNIST_DDPM_PATH, minimum=0.9, metric="conditional sample accuracy",
                  length="steps", default_length=3600)
