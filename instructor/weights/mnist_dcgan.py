"""CS231n's DCGAN of chapter 13, its generator saved to course_utils/data/mnist_dcgan.pt.

The recipe is course_utils.generative.gan_training.train_mnist_dcgan: CS231n's convolutional
classifier (gan.build_dc_classifier, 1,102,721 parameters) and loop (run_a_gan, Adam 1e-3 with
betas (0.5, 0.999), batch 128, the non-saturating loss, CS231n's Xavier initialisation) with a
generator narrower than CS231n's (gan.build_dc_generator with hidden_dim 128 and channels 48:
339,673 parameters, 1.4 MB, instead of 6,675,009 and 26.7 MB); only the generator is saved. The
score is the MNIST classifier score of 1,000 samples drawn with seed 0, as for mnist_gan.
The committed weights came from `PYTHONPATH=. python -m instructor.weights mnist_dcgan --threads 1`
(the defaults: 2 epochs of 468 steps, seed 0, 1 thread; 618 s on a 2-core machine shared with
other jobs, about 0.4 s a step when it was less busy): classifier score 7.0181 (mean confidence
0.8879). Float32, 1,354 KiB.
"""

from course_utils.generative import gan_training
from instructor.weights import Weights
from instructor.weights.mnist_gan import sample_score

WEIGHTS = Weights(__doc__.splitlines()[0],
                  lambda epochs, seed: gan_training.train_mnist_dcgan(epochs=epochs, seed=seed),
                  sample_score, gan_training.MNIST_DCGAN_PATH, minimum=5.0,
                  metric="classifier score of 1,000 samples", default_length=2)
