import numpy as np
import pytest
import torch

from dann_core.config import Config
from dann_core.data.augment import augment
from dann_core.data.pairs import PairSpec, register
from dann_core.rundir.reader import RunReader
from dann_core.train import train


def _blobs(n=32, size=28):
    x = torch.full((n, 3, size, size), -1.0)
    x[:, :, 10:18, 11:17] = 1.0  # a bright bar off-centre, on a dark ground
    return x


def _centre_of_mass(x):
    w = (x[:, 0] + 1).clamp(min=0)
    ii, jj = torch.meshgrid(torch.arange(x.shape[2]),
                            torch.arange(x.shape[3]), indexing="ij")
    m = w.sum((1, 2))
    return torch.stack([(w * ii).sum((1, 2)) / m, (w * jj).sum((1, 2)) / m], 1)


def test_identity_parameters_give_the_identity():
    x = _blobs()
    g = torch.Generator().manual_seed(0)
    for kind in ("affine", "elastic"):
        y = augment(x, kind, g, rot_deg=0, scale=0, shear=0, shift=0, elastic_px=0)
        assert y.shape == x.shape and torch.allclose(y, x, atol=1e-5)
    assert augment(x, "none", g) is x


def test_shift_moves_the_ink_by_at_most_its_bound():
    x = _blobs()
    y = augment(x, "affine", torch.Generator().manual_seed(1), rot_deg=0, scale=0, shear=0, shift=0.1)
    d = (_centre_of_mass(y) - _centre_of_mass(x)).abs()
    assert d.max() <= 0.1 * 28 + 0.5 and (d.max(1).values > 0.5).float().mean() > 0.5


def test_same_generator_same_draws_and_elastic_differs_from_affine():
    x = _blobs()
    a = augment(x, "elastic", torch.Generator().manual_seed(5))
    b = augment(x, "elastic", torch.Generator().manual_seed(5))
    c = augment(x, "affine", torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.allclose(a, c, atol=1e-3)
    assert a.min() >= -1.0 - 1e-6 and a.max() <= 1.0 + 1e-6  # bilinear: no values outside the input's


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown augmentation 'rotate'"):
        augment(_blobs(2), "rotate", torch.Generator())
    with pytest.raises(ValueError, match="augment must be one of none, affine, elastic"):
        train(Config(pair="moons", augment="rotate", runs_dir="unused"))


def _tiny_images(seed, data_root):
    rng = np.random.default_rng(seed)
    mk = lambda n: (rng.integers(0, 256, size=(n, 3, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n))
    arrays = {}
    for s in ("source_train", "source_test", "target_train", "target_test"):
        arrays[f"{s}_x"], arrays[f"{s}_y"] = mk(64)
    return arrays, 10, "image"


def test_training_with_augmentation_records_it_and_changes_the_run(runs_dir):
    register(PairSpec("tiny-images", "random images", _tiny_images, dict(model="mnist_bn"), cache=False))
    kw = dict(pair="tiny-images", runs_dir=runs_dir, threads=1, epochs=2, batch_size=16)
    a = train(Config(run_name="plain", **kw))
    b = train(Config(run_name="elastic", augment="elastic", **kw))
    assert a["state"] == b["state"] == "finished"
    ra, rb = (RunReader(f"{runs_dir}/{n}") for n in ("plain", "elastic"))
    assert rb.manifest()["config"]["augment"] == "elastic" and ra.manifest()["config"]["augment"] == "none"
    la = [m["label_loss"] for m in ra.metrics() if "label_loss" in m]
    lb = [m["label_loss"] for m in rb.metrics() if "label_loss" in m]
    assert la != lb


def test_the_training_batches_bend_the_source_and_leave_the_target_as_it_is():
    """Batches with augmentation, against the same batches without (one seed): every source image
    moved (most of its pixels changed), every target image is bit for bit the same."""
    from dann_core.data.batches import Batches
    from dann_core.data.pairs import Pair
    arrays, n_classes, kind = _tiny_images(0, None)
    pair = Pair("tiny", arrays, n_classes, kind)
    plain = Batches(pair, torch.device("cpu"), 16, torch.Generator().manual_seed(3))
    bent = Batches(pair, torch.device("cpu"), 16, torch.Generator().manual_seed(3), augment_kind="elastic")
    for _ in range(3):
        a, b = plain.next(), bent.next()
        assert torch.equal(a.xt, b.xt) and torch.equal(a.yt, b.yt) and torch.equal(a.ys, b.ys)
        changed = (a.xs - b.xs).abs().gt(1e-3).float().mean((1, 2, 3))  # share of pixels changed, per image
        assert changed.min() > 0.3, changed
