"""Chapter 13's MNIST VAE with a 2-D latent space, saved to course_utils/data/mnist_vae2d.pt.

The recipe is course_utils.generative.vae.train_vae(latent_size=2, hidden_size=128) on the CPU
(CS231n's layout, 128 wide instead of 400 to keep the file small; Adam 1e-3, batches of 128);
the score is the mean ELBO per image in nats on the 10,000 MNIST test digits (vae.elbo, one draw
per image, seed 0; higher is better). The committed weights came from
`PYTHONPATH=. python -m instructor.weights mnist_vae2d --threads 1` (the defaults: 40 epochs,
seed 0, 1 thread, 342 s on a shared 2-core machine): test ELBO
-139.6401 nats per image (0.2570 bits per pixel).
"""

from course_utils.generative import vae
from instructor.weights import Weights
from instructor.weights.mnist_vae import test_elbo

WEIGHTS = Weights(__doc__.splitlines()[0],
                  lambda epochs, seed: vae.train_vae(
                      latent_size=2, epochs=epochs, seed=seed,
                      hidden_size=vae.COMMITTED_HIDDEN_SIZE, device="cpu"),
                  test_elbo, vae.MNIST_VAE2D_PATH, minimum=-160.0,
                  metric="test ELBO (nats per image)", default_length=40)
