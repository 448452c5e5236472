"""Chapter 13's MNIST VAE (latent 15), saved to course_utils/data/mnist_vae.pt.

The recipe is course_utils.generative.vae.train_vae(latent_size=15, hidden_size=128) on the CPU
(CS231n's layout, 128 wide instead of 400 to keep the file small; Adam 1e-3, batches of 128);
the score is the mean ELBO per image in nats on the 10,000 MNIST test digits (vae.elbo, one draw
per image, seed 0; higher is better). The committed weights came from
`PYTHONPATH=. python -m instructor.weights mnist_vae --threads 1` (the defaults: 40 epochs,
seed 0, 1 thread, 445 s on a shared 2-core machine): test ELBO
-110.5099 nats per image (0.2034 bits per pixel).
"""

from course_utils import data
from course_utils.generative import vae
from instructor.weights import Weights


def test_elbo(model: vae.VAE) -> float:
    """Mean ELBO per MNIST test digit, nats."""
    _, _, x_test, _ = data.load_mnist()
    return vae.elbo(model, x_test, n_samples=1, seed=0)


WEIGHTS = Weights(__doc__.splitlines()[0],
                  lambda epochs, seed: vae.train_vae(
                      latent_size=15, epochs=epochs, seed=seed,
                      hidden_size=vae.COMMITTED_HIDDEN_SIZE, device="cpu"),
                  test_elbo, vae.MNIST_VAE_PATH, minimum=-120.0,
                  metric="test ELBO (nats per image)", default_length=40)
