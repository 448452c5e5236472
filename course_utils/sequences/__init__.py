"""Recurrent networks (chapter 10): NumPy layers with CS231n's names, signatures and caches
(vanilla RNN and LSTM steps and sequences, word embeddings, the temporal affine layer and the
masked temporal softmax loss, in rnn_layers.py and lstm_layers.py), and the image-captioning
model built from them (CaptioningRNN in captioning.py)."""
