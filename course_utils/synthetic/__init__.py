"""Seeded generators shared by chapters: scenes with boxes and masks (scenes.py), and later
captions, motion clips, 3D shapes and corruptions, one module each. Every generator is a pure
function of its arguments: the same seed gives the same data on every machine."""
