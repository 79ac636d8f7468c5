"""The networks: G_f (features), G_y (label predictor), G_d (domain classifier), and a registry.

`DANN.forward(*batches)` forwards each domain's batch *separately* and returns one
(features, class_logits, domain_logits) triple per batch. Separate forwards let BatchNorm
see per-domain batch statistics (measured here: with one concatenated batch the BN net's
DANN did not beat source-only) and keep a single forward call per step, which is what
DistributedDataParallel expects.
"""
import torch
from torch import nn

from .grl import GradientReversal


class DANN(nn.Module):
    def __init__(self, features, classifier, discriminator):
        super().__init__()
        self.features = features
        self.classifier = classifier
        self.grl = GradientReversal(0.0)
        self.discriminator = discriminator

    def forward(self, *batches):
        outs = []
        for x in batches:
            f = self.features(x).flatten(1)
            outs.append((f, self.classifier(f), self.discriminator(self.grl(f)).squeeze(1)))
        return outs


def _flat_dim(features, in_shape):
    with torch.no_grad():
        was = features.training
        features.eval()
        d = features(torch.zeros(1, *in_shape)).flatten(1).shape[1]
        features.train(was)
    return d


def mnist_paper(in_shape=(3, 28, 28), n_classes=10):
    """Paper Fig. 4 / MNIST column: conv5x5x32-ReLU-pool-conv5x5x48-ReLU-pool; FC100-FC100-FC10; FC100-FC1."""
    f = nn.Sequential(
        nn.Conv2d(in_shape[0], 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 48, 5), nn.ReLU(), nn.MaxPool2d(2))
    d = _flat_dim(f, in_shape)
    y = nn.Sequential(nn.Linear(d, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, n_classes))
    dom = nn.Sequential(nn.Linear(d, 100), nn.ReLU(), nn.Linear(100, 1))
    return DANN(f, y, dom)


def mnist_bn(in_shape=(3, 28, 28), n_classes=10):
    """The paper's MNIST layout widened and with BatchNorm + dropout: the net that closes
    most of the gap on the embedded MNIST->MNIST-M analog (see docs/fidelity.md)."""
    f = nn.Sequential(
        nn.Conv2d(in_shape[0], 64, 5), nn.BatchNorm2d(64), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(64, 50, 5), nn.BatchNorm2d(50), nn.Dropout2d(), nn.MaxPool2d(2), nn.ReLU())
    d = _flat_dim(f, in_shape)
    y = nn.Sequential(
        nn.Linear(d, 100), nn.BatchNorm1d(100), nn.ReLU(), nn.Dropout(),
        nn.Linear(100, 100), nn.BatchNorm1d(100), nn.ReLU(), nn.Linear(100, n_classes))
    dom = nn.Sequential(nn.Linear(d, 100), nn.BatchNorm1d(100), nn.ReLU(), nn.Linear(100, 1))
    return DANN(f, y, dom)


def svhn_paper(in_shape=(3, 32, 32), n_classes=10):
    """Paper Fig. 4 / SVHN column: conv5x5x64, pool3/2, conv5x5x64, pool3/2, conv5x5x128;
    G_y 3072-2048-10; G_d 1024-1024-1."""
    f = nn.Sequential(
        nn.Conv2d(in_shape[0], 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1),
        nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1),
        nn.Conv2d(64, 128, 5, padding=2), nn.ReLU())
    d = _flat_dim(f, in_shape)
    y = nn.Sequential(nn.Linear(d, 3072), nn.ReLU(), nn.Dropout(), nn.Linear(3072, 2048), nn.ReLU(),
                      nn.Dropout(), nn.Linear(2048, n_classes))
    dom = nn.Sequential(nn.Linear(d, 1024), nn.ReLU(), nn.Dropout(), nn.Linear(1024, 1024), nn.ReLU(),
                        nn.Dropout(), nn.Linear(1024, 1))
    return DANN(f, y, dom)


def moons_mlp(in_shape=(2,), n_classes=2, hidden=15):
    """JMLR section 5.1 toy: one hidden layer of 15 units; G_y and G_d are linear on it."""
    f = nn.Sequential(nn.Linear(in_shape[0], hidden), nn.Sigmoid())
    return DANN(f, nn.Linear(hidden, n_classes), nn.Linear(hidden, 1))


def _backbone(name):
    """A network from backbones.py, imported on first use (it imports torchvision)."""
    def make(in_shape, n_classes):
        from . import backbones
        return getattr(backbones, name)(in_shape=in_shape, n_classes=n_classes)
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


def build_model(name, in_shape, n_classes):
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r} (known: {', '.join(sorted(MODELS))})")
    return MODELS[name](in_shape=tuple(in_shape), n_classes=n_classes)
