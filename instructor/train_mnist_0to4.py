"""Pretrain the transfer-learning CNN on MNIST digits 0-4; save course_utils/data/mnist_0to4_cnn.pt.

Usage: python -m instructor.train_mnist_0to4 [--epochs 2] [--seed 0] [--threads 1] [--output PATH]

The recipe is course_utils.transfer.train_digits_cnn. The committed weights came from the defaults
(2 epochs, seed 0, 1 thread). The weights are saved only when the test accuracy on digits 0-4
reaches --min-accuracy; after saving, copy the printed sha256 and accuracy into
course_utils/transfer.py.
"""

import argparse
import time
from pathlib import Path

import torch

from course_utils import data, training, transfer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 repeats the committed run")
    parser.add_argument("--min-accuracy", type=float, default=0.99)
    parser.add_argument("--output", type=Path, default=transfer.DIGITS_CNN_PATH)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    model, history = transfer.train_digits_cnn(epochs=args.epochs, seed=args.seed)
    seconds = time.perf_counter() - start
    _, _, x_test, y_test = data.load_mnist()
    x_test, y_test = transfer.select_digits(x_test, y_test, transfer.SOURCE_DIGITS)
    logits = training.predict(model, training.images_to_tensor(x_test))
    accuracy = training.accuracy(logits, torch.from_numpy(y_test))
    print(f"{args.epochs} epochs in {seconds:.0f} s on {args.threads} thread(s); "
          f"last epoch's training loss {history['train_loss'][-1]:.4f}, "
          f"test accuracy on digits 0-4 {accuracy:.4f}")
    if accuracy < args.min_accuracy:
        raise SystemExit(f"test accuracy {accuracy:.4f} < {args.min_accuracy}: weights not saved")
    torch.save(model.state_dict(), args.output)
    print(f"saved {args.output} ({args.output.stat().st_size / 1024:.0f} KiB), "
          f"sha256 {data.file_digest(args.output, 'sha256')}")


if __name__ == "__main__":
    main()
