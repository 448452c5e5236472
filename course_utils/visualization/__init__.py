"""Visualising and understanding CNNs (chapter 8).

Which pixels a prediction depends on (saliency.py) and how far those maps can be trusted
(sanity.py); what a unit sees and what excites it (receptive_field.py); images made to fool a
network (adversarial.py); what a class looks like to it (class_visualization.py); images rebuilt
from a layer's features and DeepDream (inversion.py); the Gram-matrix losses of texture and
style (style.py), texture synthesis and style transfer by optimisation (texture.py) and by a
feed-forward network (fast_style.py); and the random multi-scale CNN whose features stand in for
ImageNet features on natural images (random_features.py).

The functions take PyTorch models mapping images (N, C, H, W) to scores (N, K) or features, in
eval mode, and leave their parameters as they were. texture.py, inversion.py and fast_style.py
call style.py's losses by their own module's names, which the chapter's notebook points at the
student's functions (in a student bundle the references are stubs while the chapter is open).
"""
