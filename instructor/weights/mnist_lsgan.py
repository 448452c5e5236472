"""CS231n's least-squares GAN of chapter 13, its generator saved to
course_utils/data/mnist_lsgan.pt.

The recipe is course_utils.generative.gan_training.train_mnist_gan with loss="lsgan": the
vanilla GAN of mnist_gan.py (the same models, loop and optimisers) trained with
gan.ls_discriminator_loss and gan.ls_generator_loss. The score is the MNIST classifier score of
1,000 samples drawn with seed 0, as for mnist_gan.
The committed weights came from `PYTHONPATH=. python -m instructor.weights mnist_lsgan --threads 1`
(the defaults: 10 epochs of 468 steps, seed 0, 1 thread; 225 s on a 2-core machine shared with
other jobs): classifier score 6.3106 (mean confidence 0.8595). Float32, 1,144 KiB.
"""

from course_utils.generative import gan_training
from instructor.weights import Weights
from instructor.weights.mnist_gan import sample_score

WEIGHTS = Weights(__doc__.splitlines()[0] + " " + __doc__.splitlines()[1],
                  lambda epochs, seed: gan_training.train_mnist_gan(epochs=epochs, seed=seed,
                                                                    loss="lsgan"),
                  sample_score, gan_training.MNIST_LSGAN_PATH, minimum=5.0,
                  metric="classifier score of 1,000 samples", default_length=10)
