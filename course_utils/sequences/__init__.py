"""Recurrent networks (chapter 10): NumPy layers with CS231n's names, signatures and caches
(vanilla RNN and LSTM steps and sequences, word embeddings, the temporal affine layer and the
masked temporal softmax loss, in rnn_layers.py and lstm_layers.py) and the image-captioning
model built from them (CaptioningRNN in captioning.py); in PyTorch, a GRU step, EECS 498's
attention LSTM, the Jacobian norms of gradient flow and a clipped training loop (recurrent.py),
and taggers and an encoder-decoder on the generated sequence tasks with the chapter's
experiments: exposure bias, bidirectional reading, copy against addition (seq2seq.py)."""
