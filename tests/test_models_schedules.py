import math

import pytest
import torch

from dann_core.methods.schedules import annealed_lr, lambda_at, paper_lambda
from dann_core.nn.models import MODELS, build_model


@pytest.mark.parametrize("name,shape,feat_dim", [
    ("mnist_paper", (3, 28, 28), 48 * 4 * 4),
    ("mnist_bn", (3, 28, 28), 50 * 4 * 4),
    ("svhn_paper", (3, 32, 32), 128 * 8 * 8),
    ("moons_mlp", (2,), 15),
])
def test_models_give_features_labels_and_domain(name, shape, feat_dim):
    net = build_model(name, shape, 10 if len(shape) == 3 else 2)
    xs, xt = torch.randn(4, *shape), torch.randn(6, *shape)
    (fs, ls, ds), (ft, lt, dt) = net(xs, xt)
    assert fs.shape == (4, feat_dim) and ft.shape == (6, feat_dim)
    assert ls.shape[0] == 4 and lt.shape[0] == 6 and ds.shape == (4,) and dt.shape == (6,)


def test_paper_layers():
    net = build_model("mnist_paper", (3, 28, 28), 10)
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(32, (5, 5)), (48, (5, 5))]
    assert [m.out_features for m in net.classifier if isinstance(m, torch.nn.Linear)] == [100, 100, 10]
    assert [m.out_features for m in net.discriminator if isinstance(m, torch.nn.Linear)] == [100, 1]
    svhn = build_model("svhn_paper", (3, 32, 32), 10)
    assert [m.out_features for m in svhn.classifier if isinstance(m, torch.nn.Linear)] == [3072, 2048, 10]
    assert [m.out_features for m in svhn.discriminator if isinstance(m, torch.nn.Linear)] == [1024, 1024, 1]


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        build_model("nope", (2,), 2)
    assert {"mnist_paper", "mnist_bn", "svhn_paper", "moons_mlp"} <= set(MODELS)


def test_paper_schedules():
    assert paper_lambda(0.0) == 0.0
    assert paper_lambda(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert paper_lambda(0.5, lambda_max=6) == pytest.approx(6 * (2 / (1 + math.exp(-5)) - 1))
    assert lambda_at(0.3, "constant", 0.7) == 0.7
    with pytest.raises(ValueError):
        lambda_at(0.3, "cosine", 1)
    assert annealed_lr(0.0) == 0.01
    assert annealed_lr(1.0) == pytest.approx(0.01 / 11 ** 0.75)
    lrs = [annealed_lr(p / 10) for p in range(11)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


def test_channels_last_gives_the_same_outputs():
    # the trainer lays image nets out channels-last on the CPU (1.5x faster there): same maths
    import copy

    from dann_core.data.inputs import to_input, use_channels_last
    from dann_core.eval.inference import forward_all
    torch.manual_seed(0)
    plain = build_model("mnist_bn", (3, 28, 28), 10).eval()
    fast = copy.deepcopy(plain)
    assert use_channels_last(fast, torch.device("cpu"), "image") is True
    assert fast.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randint(0, 256, (40, 3, 28, 28), dtype=torch.uint8)
    xin = to_input(x, "image", channels_last=True)
    assert xin.is_contiguous(memory_format=torch.channels_last) and not xin.is_contiguous()
    for a, b in zip(forward_all(plain, x, "image"), forward_all(fast, x, "image", chunk=16)):
        assert torch.allclose(a, b, atol=1e-4)
    # points nets, and any net off the CPU, stay as they are
    moons = build_model("moons_mlp", (2,), 2)
    assert use_channels_last(moons, torch.device("cpu"), "points") is False
    assert use_channels_last(build_model("mnist_bn", (3, 28, 28), 10), torch.device("meta"), "image") is False
