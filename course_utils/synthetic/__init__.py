"""Seeded generators shared by chapters, one module each: scenes with boxes and masks for
detection and segmentation (scenes.py), captioned scenes of shapes and MNIST digits with their
vocabulary and CS231n-style caption encoding (captions.py), sequence tasks that need memory,
copy, reverse and addition (sequence_tasks.py), clips whose class only their motion tells and
long sequences of such actions (clips.py), and later 3D shapes and corruptions; sampling.py
holds the helpers they share. Every generator is a pure function of its arguments: the same
seed gives the same data on every machine."""
