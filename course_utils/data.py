"""Data sets that run offline, and the splits and statistics every chapter needs.

MNIST ships with the course (course_utils/data/mnist.npz, checksum-verified on load); the digits
come from scikit-learn and the sample images and textures from scikit-image, both inside those
packages. CIFAR-10 is an optional download, never needed by a test.
"""

import functools
import hashlib
import os
import pickle
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

DATA_DIR = Path(__file__).parent / "data"
MNIST_PATH = DATA_DIR / "mnist.npz"
MNIST_SHA256 = "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_ROOT = Path.home() / ".cache" / "course_utils"
CIFAR10_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
# scikit-image images that ship inside its wheel (the others need a download).
SAMPLE_IMAGES = ["astronaut", "camera", "checkerboard", "chelsea", "coffee", "coins", "moon",
                 "rocket", "text"]
TEXTURES = ["brick", "grass", "gravel"]


class DatasetError(RuntimeError):
    """A data file is corrupt or could not be fetched; the message says what to do."""


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of a file, e.g. file_digest(path, "sha256")."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, algorithm).hexdigest()


@functools.cache
def _verified(path: Path, size: int, mtime_ns: int, algorithm: str, expected: str) -> bool:
    # Cached per process and per version of the file: a replaced file is checked again.
    return file_digest(path, algorithm) == expected


def verify_checksum(path: Path, algorithm: str, expected: str, fix: str) -> None:
    """Raise DatasetError, ending with the advice `fix`, unless the file has the expected digest."""
    stat = path.stat()
    if not _verified(path, stat.st_size, stat.st_mtime_ns, algorithm, expected):
        raise DatasetError(f"{path} is corrupt or incomplete (its {algorithm} is not {expected}). "
                           f"{fix}")


def load_mnist(flatten: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The MNIST digits bundled with the course, in their original order.

    Args:
        flatten: return images as rows of 784 pixels instead of 28 x 28 arrays.

    Returns:
        x_train: uint8 grey levels 0-255, shape (60000, 28, 28), or (60000, 784) when flatten.
        y_train: int64 labels 0-9, shape (60000,).
        x_test: shape (10000, 28, 28) or (10000, 784).
        y_test: shape (10000,).
    """
    fix = (f"Restore {MNIST_PATH.name} by reinstalling the course (`pip install -e .` in the "
           f"course folder) or by copying course_utils/data/{MNIST_PATH.name} from the course "
           f"repository to {MNIST_PATH}.")
    if not MNIST_PATH.is_file():
        raise FileNotFoundError(f"MNIST not found at {MNIST_PATH}. {fix}")
    verify_checksum(MNIST_PATH, "sha256", MNIST_SHA256, fix)
    try:
        with np.load(MNIST_PATH) as archive:
            arrays = [archive[key] for key in ("x_train", "y_train", "x_test", "y_test")]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise DatasetError(f"{MNIST_PATH} cannot be read as MNIST ({error}). {fix}") from error
    x_train, y_train, x_test, y_test = arrays
    if flatten:
        x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8 x 8 digits: images float64 in [0, 16], shape (1797, 8, 8); labels int64."""
    import sklearn.datasets  # imported here: scikit-learn takes a second to import

    digits = sklearn.datasets.load_digits()
    return digits.images.astype(np.float64), digits.target.astype(np.int64)


def load_sample_images() -> dict[str, np.ndarray]:
    """scikit-image's sample photos by name: grey (H, W) or colour (H, W, 3) uint8 arrays."""
    import skimage.data  # imported here, like scikit-learn above

    return {name: getattr(skimage.data, name)() for name in SAMPLE_IMAGES}


def load_textures() -> dict[str, np.ndarray]:
    """scikit-image's grey texture photos (brick, grass, gravel): uint8, shape (512, 512)."""
    import skimage.data

    return {name: getattr(skimage.data, name)() for name in TEXTURES}


def load_cifar10(root: str | Path | None = None, download: bool = False, *,
                 url: str = CIFAR10_URL, md5: str = CIFAR10_MD5
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CIFAR-10 from the python version of its archive, downloaded once (about 163 MB).

    Args:
        root: folder holding cifar-10-python.tar.gz; default ~/.cache/course_utils.
        download: fetch the archive from `url` when it is not in `root` yet.
        url, md5: where the archive comes from and its checksum.

    Returns:
        x_train: uint8 images, shape (50000, 32, 32, 3); y_train: int64 labels 0-9, shape (50000,).
        x_test: shape (10000, 32, 32, 3); y_test: shape (10000,).
    """
    archive = Path(root if root is not None else CIFAR10_ROOT) / "cifar-10-python.tar.gz"
    if not archive.is_file():
        if not download:
            raise FileNotFoundError(f"CIFAR-10 not found at {archive}. Call "
                                    f"load_cifar10(download=True), or download {url} by hand "
                                    f"and put it there.")
        download_file(url, archive, md5)
    verify_checksum(archive, "md5", md5, "Delete it and call load_cifar10(download=True) again.")
    batches = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:  # one pass through the compressed stream
                name = Path(member.name).name
                if name in CIFAR10_BATCHES:
                    # Safe to unpickle: the archive's checksum matched.
                    batches[name] = pickle.load(tar.extractfile(member), encoding="bytes")
        parts = [_cifar_batch(batches[name]) for name in CIFAR10_BATCHES]
    except (tarfile.TarError, OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError,
            ValueError) as error:
        raise DatasetError(f"{archive} is not a CIFAR-10 python archive ({error!r}). "
                           f"Delete it and call load_cifar10(download=True) again.") from error
    x_train = np.concatenate([x for x, _ in parts[:5]])
    y_train = np.concatenate([y for _, y in parts[:5]])
    return x_train, y_train, *parts[5]


def _cifar_batch(batch: dict) -> tuple[np.ndarray, np.ndarray]:
    # Rows of 3072 bytes: 1024 red, 1024 green, 1024 blue, each 32 x 32 row-major.
    x = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), np.asarray(batch[b"labels"], dtype=np.int64)


def download_file(url: str, target: Path, md5: str) -> None:
    """Download `url` to `target` through a temporary file, with a progress bar; check its md5."""
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(dir=target.parent, suffix=".part")
    partial = Path(partial)
    try:
        with (os.fdopen(descriptor, "wb") as out,
              urllib.request.urlopen(url, timeout=30) as response):
            size = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=size, unit="B", unit_scale=True, desc=target.name) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
        if file_digest(partial, "md5") != md5:
            raise DatasetError(f"the file downloaded from {url} does not have md5 {md5}: "
                               f"try again later, or download it by hand and put it at {target}.")
        os.replace(partial, target)
    except OSError as error:  # urllib.error.URLError, timeouts, refused connections
        raise DatasetError(f"could not download {url} ({error}). Are you offline? On a machine "
                           f"with network, download it by hand and put it at {target}.") from error
    finally:
        partial.unlink(missing_ok=True)


def _split_counts(counts: np.ndarray, total: int) -> np.ndarray:
    """Share `total` among classes in proportion to `counts` (largest remainders), never above
    them."""
    quotas = total * counts / counts.sum()
    shares = np.floor(quotas).astype(np.int64)
    by_remainder = np.argsort(shares - quotas, kind="stable")  # largest remainder first
    shares[by_remainder[: total - shares.sum()]] += 1
    return shares


def _check_pair(x: np.ndarray, y: np.ndarray) -> None:
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}: pass matching arrays")


def _draw(y: np.ndarray, sizes: list[int], rng: np.random.Generator,
          stratified: bool) -> list[np.ndarray]:
    """Disjoint shuffled index sets of the given sizes, stratified by label when asked."""
    if not stratified:
        order = rng.permutation(len(y))
        return np.split(order, np.cumsum(sizes))[: len(sizes)]
    classes, y_index = np.unique(y, return_inverse=True)
    remaining = np.bincount(y_index, minlength=len(classes))
    pools = [rng.permutation(np.flatnonzero(y_index == c)) for c in range(len(classes))]
    parts = []
    for size in sizes:
        shares = _split_counts(remaining, size)
        picked = [pool[len(pool) - left:][:share]
                  for pool, left, share in zip(pools, remaining, shares, strict=True)]
        parts.append(rng.permutation(np.concatenate(picked)))
        remaining = remaining - shares
    return parts


def train_val_test_split(x: np.ndarray, y: np.ndarray, val_fraction: float, test_fraction: float,
                         seed: int, stratified: bool = True) -> tuple[np.ndarray, ...]:
    """Shuffle and split into training, validation and test sets.

    Args:
        x: samples, shape (N, ...); y: labels, shape (N,).
        val_fraction, test_fraction: shares of N for validation and test, together below 1.
        seed: seeds the shuffle.
        stratified: keep each class's share of samples the same in every split.

    Returns:
        x_train, y_train, x_val, y_val, x_test, y_test.
    """
    _check_pair(x, y)
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"val_fraction={val_fraction} and test_fraction={test_fraction} must be "
                         "in [0, 1) and add up to less than 1")
    n_val, n_test = round(val_fraction * len(y)), round(test_fraction * len(y))
    sizes = [n_val, n_test, len(y) - n_val - n_test]
    val, test, train = _draw(np.asarray(y), sizes, np.random.default_rng(seed), stratified)
    return x[train], y[train], x[val], y[val], x[test], y[test]


def subsample(x: np.ndarray, y: np.ndarray, n: int, seed: int,
              stratified: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A random subset of n samples (x, y), with class shares kept when stratified."""
    _check_pair(x, y)
    if not 0 <= n <= len(y):
        raise ValueError(f"cannot take n={n} samples out of {len(y)}: pass 0 <= n <= {len(y)}")
    (chosen,) = _draw(np.asarray(y), [n], np.random.default_rng(seed), stratified)
    return x[chosen], y[chosen]


def channel_mean_std(x: np.ndarray, channel_axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each channel, over all samples and pixels (float64).

    Args:
        x: images, e.g. shape (N, H, W, C) with channel_axis=-1 or (N, C, H, W) with channel_axis=1.
        channel_axis: the channel axis, or None for one mean and std over everything.

    Returns:
        mean, std: shape (C,), or 0-d arrays when channel_axis is None.
    """
    x = np.asarray(x)
    if channel_axis is None:
        return x.mean(dtype=np.float64), x.std(dtype=np.float64)
    if not -x.ndim <= channel_axis < x.ndim:
        raise ValueError(f"channel_axis={channel_axis} is not an axis of x with shape {x.shape}")
    axes = tuple(axis for axis in range(x.ndim) if axis != channel_axis % x.ndim)
    return x.mean(axis=axes, dtype=np.float64), x.std(axis=axes, dtype=np.float64)


def standardize(x: np.ndarray, mean: np.ndarray, std: np.ndarray, channel_axis: int = -1,
                eps: float = 1e-8) -> np.ndarray:
    """(x - mean) / std channel by channel, e.g. with the statistics of the training set.

    Args:
        x: images, shape (N, H, W, C) or (N, C, H, W) (pass channel_axis=1).
        mean, std: shape (C,) from channel_mean_std, or scalars; std is clipped below at eps.
        channel_axis: the axis of x that mean and std run along.

    Returns:
        Standardized x; float32 input stays float32, anything else becomes float64.
    """
    x = np.asarray(x)
    mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    if mean.ndim or std.ndim:
        channels = x.shape[channel_axis]
        if mean.shape != (channels,) or std.shape != (channels,):
            raise ValueError(f"mean {mean.shape} and std {std.shape} must have shape ({channels},) "
                             f"to match axis {channel_axis} of x {x.shape}: pass channel_axis")
        shape = [1] * x.ndim
        shape[channel_axis] = channels
        mean, std = mean.reshape(shape), std.reshape(shape)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    return ((x - mean) / np.maximum(std, eps)).astype(dtype, copy=False)
