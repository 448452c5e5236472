"""Chapter 13's MNIST autoencoder, saved to course_utils/data/mnist_autoencoder.pt.

The recipe is course_utils.generative.autoencoder.train_autoencoder on the CPU (the 60,000
training digits without labels, bottleneck 32, mean squared error, Adam 2e-3). Its error is
lower-is-better while the command saves from a minimum score up, so the score is the PSNR of the
reconstructions of the 10,000 test digits, -10 log10(MSE) in dB (grey levels in [0, 1]), higher
is better. The committed weights came from
`PYTHONPATH=. python -m instructor.weights mnist_autoencoder --threads 1` (the defaults: 8
epochs, seed 0, 1 thread, 130 s on a shared 2-core machine): test MSE 0.004564, PSNR
23.4067 dB.
"""

from course_utils import data
from course_utils.generative import autoencoder
from instructor.weights import Weights


def test_psnr(model: autoencoder.Autoencoder) -> float:
    """PSNR (dB) of the mean squared error of the test digits' reconstructions."""
    _, _, x_test, _ = data.load_mnist()
    return autoencoder.psnr(autoencoder.reconstruction_mse(model, x_test))


WEIGHTS = Weights(__doc__.splitlines()[0],
                  lambda epochs, seed: autoencoder.train_autoencoder(epochs=epochs, seed=seed,
                                                                     device="cpu"),
                  test_psnr, autoencoder.MNIST_AUTOENCODER_PATH, minimum=20.0,
                  metric="test PSNR (dB)", default_length=8)
