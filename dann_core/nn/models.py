"""The networks: G_f (features), G_y (label predictor), G_d (domain classifier), and a registry.

Each builder takes the training mode: in the conditional modes G_d's input is the multilinear
map of f and the class probabilities (network.py), so G_d is built that wide. The DANN module
itself is network.py's.
"""
import torch
from torch import nn

from dann_core.nn.network import DANN, conditioning


def _flat_dim(features, in_shape, name):
    with torch.no_grad():
        was = features.training
        features.eval()
        try:
            d = features(torch.zeros(1, *in_shape)).flatten(1).shape[1]
        except RuntimeError:  # e.g. images too small for the convolutions and pools
            raise ValueError(f"model {name} does not fit input shape {tuple(in_shape)} "
                             "(images too small for it?)") from None
        features.train(was)
    return d


def mnist_paper(in_shape=(3, 28, 28), n_classes=10, mode="dann"):
    """Paper Fig. 4 / MNIST column: conv5x5x32-ReLU-pool-conv5x5x48-ReLU-pool; FC100-FC100-FC10; FC100-FC1."""
    f = nn.Sequential(
        nn.Conv2d(in_shape[0], 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 48, 5), nn.ReLU(), nn.MaxPool2d(2))
    d = _flat_dim(f, in_shape, "mnist_paper")
    y = nn.Sequential(nn.Linear(d, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, n_classes))
    cond, d_in = conditioning(mode, d, n_classes)
    dom = nn.Sequential(nn.Linear(d_in, 100), nn.ReLU(), nn.Linear(100, 1))
    return DANN(f, y, dom, cond)


def mnist_bn(in_shape=(3, 28, 28), n_classes=10, mode="dann"):
    """The paper's MNIST layout widened and with BatchNorm + dropout: the net that closes
    most of the gap on the embedded MNIST->MNIST-M analog (see docs/fidelity.md)."""
    f = nn.Sequential(
        nn.Conv2d(in_shape[0], 64, 5), nn.BatchNorm2d(64), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(64, 50, 5), nn.BatchNorm2d(50), nn.Dropout2d(), nn.MaxPool2d(2), nn.ReLU())
    d = _flat_dim(f, in_shape, "mnist_bn")
    y = nn.Sequential(
        nn.Linear(d, 100), nn.BatchNorm1d(100), nn.ReLU(), nn.Dropout(),
        nn.Linear(100, 100), nn.BatchNorm1d(100), nn.ReLU(), nn.Linear(100, n_classes))
    cond, d_in = conditioning(mode, d, n_classes)
    dom = nn.Sequential(nn.Linear(d_in, 100), nn.BatchNorm1d(100), nn.ReLU(), nn.Linear(100, 1))
    return DANN(f, y, dom, cond)


def svhn_paper(in_shape=(3, 32, 32), n_classes=10, mode="dann"):
    """Paper Fig. 4 / SVHN column: conv5x5x64, pool3/2, conv5x5x64, pool3/2, conv5x5x128;
    G_y 3072-2048-10; G_d 1024-1024-1."""
    f = nn.Sequential(
        nn.Conv2d(in_shape[0], 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1),
        nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1),
        nn.Conv2d(64, 128, 5, padding=2), nn.ReLU())
    d = _flat_dim(f, in_shape, "svhn_paper")
    y = nn.Sequential(nn.Linear(d, 3072), nn.ReLU(), nn.Dropout(), nn.Linear(3072, 2048), nn.ReLU(),
                      nn.Dropout(), nn.Linear(2048, n_classes))
    cond, d_in = conditioning(mode, d, n_classes)
    dom = nn.Sequential(nn.Linear(d_in, 1024), nn.ReLU(), nn.Dropout(), nn.Linear(1024, 1024), nn.ReLU(),
                        nn.Dropout(), nn.Linear(1024, 1))
    return DANN(f, y, dom, cond)


def moons_mlp(in_shape=(2,), n_classes=2, mode="dann", hidden=15):
    """JMLR section 5.1 toy: one hidden layer of 15 units; G_y and G_d are linear on it."""
    f = nn.Sequential(nn.Linear(in_shape[0], hidden), nn.Sigmoid())
    y = nn.Linear(hidden, n_classes)
    cond, d_in = conditioning(mode, hidden, n_classes)
    return DANN(f, y, nn.Linear(d_in, 1), cond)


def _backbone(name):
    """A network from backbones.py, imported on first use (it imports torchvision)."""
    def make(in_shape, n_classes, mode="dann"):
        from dann_core.nn import backbones
        return getattr(backbones, name)(in_shape=in_shape, n_classes=n_classes, mode=mode)
    make.__name__ = name
    return make


MODELS = {
    "mnist_paper": mnist_paper,
    "mnist_bn": mnist_bn,
    "svhn_paper": svhn_paper,
    "moons_mlp": moons_mlp,
    "resnet50": _backbone("resnet50"),                  # ImageNet weights + 256-d bottleneck
    "resnet50_scratch": _backbone("resnet50_scratch"),  # the same, random weights
}


def build_model(name, in_shape, n_classes, mode="dann"):
    """Network `name` for inputs of `in_shape` and `n_classes` classes, its G_d made for `mode`."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r} (known: {', '.join(sorted(MODELS))})")
    return MODELS[name](in_shape=tuple(in_shape), n_classes=n_classes, mode=mode)

