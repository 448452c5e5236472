"""Generative models (chapter 13), trained from scratch on MNIST on a CPU: masked convolutions
and PixelCNN (pixelcnn.py), an autoencoder whose codes classify from few labels
(autoencoder.py), the variational autoencoder (vae.py) with its latent grid and traversal widget
(vae_explorer.py), GANs with CS231n's losses and a DCGAN (gan.py) and their training loop and
committed generators (gan_training.py), denoising diffusion with DDIM sampling and
classifier-free guidance (diffusion.py, unet.py), and one quality figure for all of them: the
Fréchet distance in the feature space of the course's MNIST ResNet (quality.py), gathered into
one table (comparison.py)."""
