"""Attention and transformers (chapter 11), in PyTorch: scaled dot-product attention with EECS
498's loop and no-loop names and a batched version for any leading dimensions, and the causal
mask (dot_product.py); CS231n's MultiHeadAttention and sinusoidal PositionalEncoding, with
helpers that copy weights to and from torch.nn.MultiheadAttention (multi_head.py); CS231n's
post-norm (or pre-norm) transformer encoder and decoder layers and the CaptioningTransformer on
chapter 10's vocabulary (transformer.py), trained and compared with chapter 10's LSTM
(captioning_training.py); post-norm against pre-norm on training stability
(norm_stability.py); CS231n's PatchEmbedding and a small VisionTransformer with a class token,
whose per-layer attention maps can be read (vit.py); the fixed-context bottleneck against
additive attention, and the cost of attention against sequence length (bottleneck.py); and
the attention and positional-encoding explorers (explorers.py).
Mask convention: True (or 1) where attention is allowed, as in CS231n and
torch.nn.functional.scaled_dot_product_attention, except EECS 498's
scaled_dot_product_no_loop_batch, which keeps EECS 498's True = masked out."""
