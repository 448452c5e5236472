"""NumPy classifiers, one module each (k-nearest neighbours, linear classifiers, small networks)."""
