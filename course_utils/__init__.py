"""Shared code for the deep learning for computer vision course."""
