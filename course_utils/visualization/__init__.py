"""Visualising and understanding CNNs (chapter 8): which pixels a prediction depends on
(saliency.py), how far the saliency methods can be trusted (sanity.py), images made to fool a
network (adversarial.py), what a class or a neuron looks like to it (class_visualization.py), and
the Gram-matrix losses of texture synthesis and style transfer (style.py).

Every function takes a PyTorch classifier mapping images (N, C, H, W) to unnormalised scores
(N, K), in eval mode, and leaves its parameters as they were.
"""
