"""CS231n's fully connected GAN of chapter 13, its generator saved to
course_utils/data/mnist_gan.pt.

The recipe is course_utils.generative.gan_training.train_mnist_gan: CS231n's discriminator and
loop (run_a_gan, Adam 1e-3 with betas (0.5, 0.999), batch 128, the non-saturating loss) with a
generator of hidden width 256 instead of 1024 (292,112 parameters, 1.2 MB in float32, instead of
1,952,528 and 7.8 MB); only the generator is saved. The score is the MNIST classifier score
(gan_training.classifier_scores) of 1,000 samples drawn with seed 0.
The committed weights came from `PYTHONPATH=. python -m instructor.weights mnist_gan --threads 1`
(the defaults: 10 epochs of 468 steps, seed 0, 1 thread; 201 s on a 2-core machine shared with
other jobs, about 20 s an epoch): classifier score 5.8172 (mean confidence 0.8413; the first
1,000 MNIST test digits score 9.42). Float32, 1,144 KiB.
"""

from course_utils.generative import gan_training
from instructor.weights import Weights


def sample_score(G) -> float:
    """The classifier score of 1,000 samples (seed 0); prints their mean confidence too."""
    scores = gan_training.classifier_scores(gan_training.sample(G, 1000, seed=0))
    print({name: round(value, 4) for name, value in scores.items()})
    return scores["score"]


WEIGHTS = Weights(__doc__.splitlines()[0] + " " + __doc__.splitlines()[1],
                  lambda epochs, seed: gan_training.train_mnist_gan(epochs=epochs, seed=seed),
                  sample_score, gan_training.MNIST_GAN_PATH, minimum=5.0,
                  metric="classifier score of 1,000 samples", default_length=10)
