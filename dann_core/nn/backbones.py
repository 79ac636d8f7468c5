"""ResNet-50 with the paper's 256-d bottleneck, for real images (the `folders` pair).

Ganin et al. (JMLR 2016, section 5.2.3) put a 256-unit bottleneck after the pre-trained
network's last pooling layer and attach both G_y and G_d to it; G_d is 1024-1024-1 with ReLU
and dropout. Here G_f is ResNet-50 (ImageNet weights from torchvision) plus that bottleneck:

    x in [-1, 1]  ->  ImageNet normalisation  ->  ResNet-50 up to global pooling (2048)
                  ->  Linear 2048-256, BatchNorm, ReLU                              G_f
    G_y: Linear 256-n_classes       G_d: 256-1024-1024-1, ReLU + dropout 0.5

The trainer feeds every image net x/127.5 - 1, so the backbone maps that back to [0, 1] and
normalises with ImageNet's mean and std itself. The paper trains the pre-trained layers 10x
slower; the trainer has one learning rate, so their gradients are scaled by 0.1
(BACKBONE_LR_MULT), which under SGD is exactly a 10x lower learning rate (Adam ignores it).

Weights: the file torchvision names (resnet50-0676ba61.pth) in torch's hub cache
(~/.cache/torch/hub/checkpoints, or $TORCH_HOME/hub/checkpoints). When it is missing it is
downloaded, unless DANN_OFFLINE=1; when it cannot be had the model raises WeightsError (a
ValueError: the CLI prints it as one line) saying how to get it, or to use `resnet50_scratch`.
"""
import os
import re
import sys

import torch
from torch import nn

from dann_core.nn.network import DANN, conditioning

BACKBONE_LR_MULT = 0.1
BOTTLENECK = 256
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHTS_URL = "https://download.pytorch.org/models/resnet50-0676ba61.pth"  # torchvision IMAGENET1K_V1


class WeightsError(ValueError):
    """Pre-trained weights that cannot be had here, with a one-line reason and the fix."""


def _download(url, path):
    m = re.search(r"-([a-f0-9]+)\.", os.path.basename(path))
    torch.hub.download_url_to_file(url, path, hash_prefix=m.group(1) if m else None, progress=True)


WEIGHTS_DOWNLOADER = _download   # (url, path) -> None; swapped by tests


def weights_path(url=WEIGHTS_URL):
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


def imagenet_state_dict(url=WEIGHTS_URL):
    """The ResNet-50 ImageNet state dict from torch's hub cache, downloaded there if allowed."""
    path = weights_path(url)
    fix = (f"connect to the internet once, or copy {os.path.basename(path)} (from {url}) into "
           f"{os.path.dirname(path)}, or use --model resnet50_scratch to train from random weights (far worse)")
    if not os.path.isfile(path):
        from dann_core.data.sets.torchvision_sets import downloads_enabled
        if not downloads_enabled():
            raise WeightsError(f"ResNet-50 ImageNet weights are not in {os.path.dirname(path)} and downloads "
                               f"are off (DANN_OFFLINE=1); {fix}")
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            print(f"downloading ResNet-50 ImageNet weights (~100 MB) to {path}", file=sys.stderr)
            WEIGHTS_DOWNLOADER(url, path)
        except KeyboardInterrupt:
            raise
        except Exception as e:
            msg = " ".join(str(e).split()) or type(e).__name__
            raise WeightsError(f"ResNet-50 ImageNet weights are not in {os.path.dirname(path)} and could not be "
                               f"downloaded (no network?): {msg[:200]}; {fix}") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        msg = " ".join(str(e).split()) or type(e).__name__
        raise WeightsError(f"cannot load ResNet-50 weights from {path}: {msg[:200]}; delete the file to "
                           "download it again") from None


class ImageNetNorm(nn.Module):
    """[-1, 1] input (the trainer's scaling) -> ImageNet-normalised input."""

    def __init__(self):
        super().__init__()
        mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        # (x + 1) / 2 - mean) / std  ==  x * a + b
        self.register_buffer("a", 0.5 / std, persistent=False)
        self.register_buffer("b", (0.5 - mean) / std, persistent=False)

    def forward(self, x):
        return x * self.a + self.b


class ResNetFeatures(nn.Module):
    """G_f: normalisation, ResNet-50 trunk (global-average-pooled 2048) and the bottleneck."""

    def __init__(self, trunk, dim=BOTTLENECK):
        super().__init__()
        self.norm = ImageNetNorm()
        self.trunk = trunk
        self.bottleneck = nn.Sequential(nn.Linear(2048, dim), nn.BatchNorm1d(dim), nn.ReLU())
        self.bottleneck[0].weight.data.normal_(0, 0.005)
        self.bottleneck[0].bias.data.fill_(0.1)

    def forward(self, x):
        return self.bottleneck(self.trunk(self.norm(x)).flatten(1))


def resnet50_dann(in_shape=(3, 224, 224), n_classes=31, pretrained=True, mode="dann"):
    from torchvision.models import resnet50 as tv_resnet50
    if len(in_shape) != 3 or in_shape[0] != 3:
        raise ValueError(f"resnet50 needs 3-channel images, got input shape {tuple(in_shape)}")
    net = tv_resnet50(weights=None)
    if pretrained:
        net.load_state_dict(imagenet_state_dict())
        for p in net.parameters():
            p.register_hook(lambda g: g * BACKBONE_LR_MULT)
    else:
        print("note: resnet50_scratch starts from random weights (no ImageNet pre-training): expect far lower "
              "accuracy than --model resnet50", file=sys.stderr)
    net.fc = nn.Identity()
    features = ResNetFeatures(net)
    classifier = nn.Linear(BOTTLENECK, n_classes)
    classifier.weight.data.normal_(0, 0.01)
    classifier.bias.data.zero_()
    cond, d_in = conditioning(mode, BOTTLENECK, n_classes)
    discriminator = nn.Sequential(
        nn.Linear(d_in, 1024), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(1024, 1024), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(1024, 1))
    return DANN(features, classifier, discriminator, cond)


def resnet50(in_shape=(3, 224, 224), n_classes=31, mode="dann"):
    return resnet50_dann(in_shape, n_classes, pretrained=True, mode=mode)


def resnet50_scratch(in_shape=(3, 224, 224), n_classes=31, mode="dann"):
    return resnet50_dann(in_shape, n_classes, pretrained=False, mode=mode)
