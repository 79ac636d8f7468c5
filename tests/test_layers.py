"""The probe features of two layers: G_f's output (what G_d sees) and G_y's last hidden layer."""
import json
import os

import numpy as np
import pytest
import torch

from dann_core.config import Config
from dann_core.nn.models import build_model
from dann_core.rundir.layers import LAYERS
from dann_core.rundir.reader import RunReader
from dann_core.rundir.writer import RunWriter, safe_run_dir
from dann_core.train import train


@pytest.mark.parametrize("name,shape,n_classes,features,hidden", [
    ("mnist_paper", (3, 28, 28), 10, 48 * 4 * 4, 100),
    ("mnist_bn", (3, 28, 28), 10, 50 * 4 * 4, 100),
    ("svhn_paper", (3, 32, 32), 10, 128 * 8 * 8, 2048),
    ("moons_mlp", (2,), 2, 15, None),            # None: the hidden layer is the features
    ("resnet50_scratch", (3, 32, 32), 5, 256, None),
])
def test_each_layer_has_its_width(name, shape, n_classes, features, hidden, capsys):
    net = build_model(name, shape, n_classes).eval()
    x = torch.randn(3, *shape)
    f, h, logits, dom = net.layers(x)
    assert f.shape == (3, features) and h.shape == (3, hidden or features) and logits.shape == (3, n_classes)
    assert net.hidden_is_features == (hidden is None)
    if hidden is None:
        assert h is f
    else:  # the input of G_y's last Linear: that Linear on it gives the logits
        torch.testing.assert_close(net.classifier[-1](h), logits)
    (f2, logits2, dom2), = net(x)          # the training forward: the same numbers
    assert torch.equal(f, f2) and torch.equal(logits, logits2) and torch.equal(dom, dom2)
    man = net.layer_manifest()
    assert man["features"] == {"label": LAYERS["features"], "dim": features}
    assert man["hidden"]["dim"] == (hidden or features) and man["hidden"]["label"] == LAYERS["hidden"]
    assert man["hidden"].get("same_as") == (None if hidden else "features")


def _train(runs_dir, name, **kw):
    return train(Config(runs_dir=runs_dir, run_name=name, threads=1, device="cpu", **kw), log=lambda m: None)


def test_image_run_stores_the_hidden_layer(runs_dir):
    _train(runs_dir, "mm", pair="mnist-mnistm", max_steps=4, evals=2, n_probe=40)
    r = RunReader(os.path.join(runs_dir, "mm"))
    assert r.manifest()["layers"]["hidden"] == {"label": LAYERS["hidden"], "dim": 100}
    assert r.manifest()["layers"]["features"]["dim"] == 800
    with np.load(os.path.join(runs_dir, "mm", "checkpoints", f"ckpt_{r.checkpoint_steps()[-1]:08d}.npz")) as z:
        assert z["hidden"].dtype == np.float16 and z["hidden"].shape == (80, 100)
        assert z["features"].shape == (80, 800)
    ck = r.load_checkpoint()
    h, f = r.layer(ck, "hidden"), r.layer(ck, "features")
    assert h.dtype == np.float32 and h.shape == (80, 100) and f.shape == (80, 800)
    assert np.isfinite(h).all() and h.min() >= 0  # after a ReLU


def test_points_run_stores_no_copy_and_the_reader_gives_the_features(runs_dir):
    _train(runs_dir, "m", pair="moons", epochs=2)
    r = RunReader(os.path.join(runs_dir, "m"))
    assert r.manifest()["layers"]["hidden"]["same_as"] == "features"
    ck = r.load_checkpoint()
    assert "hidden" not in ck
    assert np.array_equal(r.layer(ck, "hidden"), ck["features"]) and r.layer(ck, "features").shape == (600, 15)
    with pytest.raises(ValueError, match="unknown layer"):
        r.layer(ck, "logits")
    assert r.layer(None, "features") is None


def _features_only_run(runs_dir, name, log=None, **manifest):
    """A run with the features alone in its checkpoint (no `hidden`), as written before the hidden
    layer was stored; `manifest`: more manifest keys; `log`: one metrics record. Its reader."""
    w = RunWriter(safe_run_dir(runs_dir, name))
    w.write_manifest({"name": name, "pair": "mnist-mnistm", "mode": "dann", "n_classes": 10, "n_probe": 3,
                      **manifest})
    if log:
        w.log(log)
    feats = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float16)
    w.write_checkpoint(0, {"w": torch.ones(1)}, features=feats, y=np.arange(6), domain=np.r_[0, 0, 0, 1, 1, 1])
    w.close()
    return RunReader(w.dir)


def test_an_old_run_opens_with_features_only(runs_dir):
    # written as before the hidden layer: no "layers" in the manifest, no "hidden" in the npz,
    # eval rows without the class-conditional keys
    r = _features_only_run(runs_dir, "old", log={"step": 0, "source_acc": 0.1, "target_acc": 0.1, "domain_err": 0.5,
                                                 "linear_domain_err": 0.4, "eval": True})
    ck = r.load_checkpoint()
    assert r.layer(ck, "hidden") is None and r.layer(ck, "features").shape == (6, 8)
    (rec,) = r.metrics()
    assert "knn_agreement" not in rec and rec["linear_domain_err"] == 0.4
    assert r.warnings == []
    json.dumps(r.manifest())


@pytest.mark.parametrize("layers", [["hidden"], {"hidden": 3}, {"hidden": {"same_as": "checkpoint"}}, "x"])
def test_a_manifest_with_a_bad_layers_entry_gives_no_hidden_layer(runs_dir, layers):
    # a copied-in manifest may hold anything under "layers": no AttributeError, and no array
    # that is not a layer (say, another key of the checkpoint) served as one
    r = _features_only_run(runs_dir, "odd", layers=layers)
    ck = r.load_checkpoint()
    assert r.layer(ck, "hidden") is None and r.layer(ck, "features").shape == (6, 8)
