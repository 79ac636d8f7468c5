"""The input plane of a 2-D pair: the trainer keeps G_y's (and G_d's) grid in each checkpoint
(dann_core/eval/plane.py), the figure builder draws it (dashboard/plots/moons.plane_figure); and
curves that tell the truth: no number from an untrained G_d is recorded or drawn."""
import os

import numpy as np
import pytest

from dann_core.config import Config
from dann_core.eval.validators import READS_GD
from dann_core.rundir import files
from dann_core.rundir.reader import RunReader
from dann_core.train import train
from dashboard.plots import moons
from dashboard.plots.curves import LINEAR, curves_figure, split_metrics
from dashboard.plots.validators import validators_figure


def _run(runs_dir, name, **kw):
    train(Config(pair="moons", runs_dir=runs_dir, run_name=name, threads=1, epochs=3, ckpt_every=20, **kw))
    return RunReader(os.path.join(runs_dir, name))


def test_each_checkpoint_keeps_the_input_plane_and_it_is_the_nets(runs_dir):
    r = _run(runs_dir, "dann")
    steps = r.checkpoint_steps()
    assert len(steps) >= 3
    x = r.probe()["x"]
    for s in steps:
        ck = r.load_checkpoint(s)
        gx, gy = ck[files.PLANE["gx"]], ck[files.PLANE["gy"]]
        cp, dp = ck[files.PLANE["class_prob"]], ck[files.PLANE["domain_prob"]]
        assert cp.shape == (len(gy), len(gx), 2) and dp.shape == (len(gy), len(gx))
        # the grid covers every probe point, the same grid at every checkpoint
        assert gx[0] < x[:, 0].min() and gx[-1] > x[:, 0].max() and gy[0] < x[:, 1].min() and gy[-1] > x[:, 1].max()
        assert np.allclose(cp.astype(np.float32).sum(2), 1, atol=2e-3)
    # the grid is the saved net's: evaluated again from the weights with numpy (plots/moons.py)
    import torch
    w = moons.weights_from_state_dict(torch.load(r.weights_path(steps[-1])))
    xx, yy = np.meshgrid(gx, gy)
    h = moons.hidden(w, np.c_[xx.ravel(), yy.ravel()])
    assert np.allclose(moons.class1_prob(w, h).reshape(xx.shape), cp[..., 1], atol=2e-3)
    assert np.allclose(moons.domain_prob((w["Wd"], w["bd"]), h).reshape(xx.shape), dp, atol=2e-3)
    # and it moves as the net trains
    first = r.load_checkpoint(steps[0])[files.PLANE["class_prob"]]
    assert np.abs(first.astype(np.float32) - cp.astype(np.float32)).max() > 0.05


def test_source_only_records_nothing_of_its_untrained_domain_classifier(runs_dir):
    r = _run(runs_dir, "so", mode="source_only")
    evals = [m for m in r.metrics() if m.get("eval")]
    assert evals and all("domain_err" not in m for m in evals)
    assert all(0 <= m["linear_domain_err"] <= 1 for m in evals)  # the domain signal every mode has
    assert all(m["validators"] and not READS_GD & set(m["validators"]) for m in evals)
    ck = r.load_checkpoint()
    assert files.PLANE["class_prob"] in ck and files.PLANE["domain_prob"] not in ck
    fig = moons.plane_figure(ck, r.probe()["x"], r.probe()["y"], r.probe()["domain"], with_domain=True)
    assert fig is not None and len([t for t in fig.data if t.type == "heatmap"]) == 1  # no G_d panel


def _records(adversarial_numbers=True):
    recs = []
    for s in range(0, 501, 100):
        recs.append({"step": s, "label_loss": 0.5, "domain_loss": 0.6 if adversarial_numbers else None,
                     "domain_acc_batch": 0.5 if adversarial_numbers else None, "lambda": 0.0})
        recs.append({"step": s, "eval": True, "source_acc": 0.9, "target_acc": 0.7, "domain_err": 0.51,
                     "linear_domain_err": 0.33, "validators": {"gd_error": -0.01, "im": 0.5, "entropy": 0.2}})
    return recs


def test_curves_of_a_mode_without_g_d_draw_none_of_its_numbers_but_the_linear_domain_error():
    train, evals = split_metrics(_records())  # an older source-only run: domain_err was recorded
    names = {t.name for t in curves_figure(train, evals, adversarial=False).data}
    assert "G_d error (held out)" not in names and "domain loss" not in names
    assert "G_d error (train batches)" not in names and "λ" not in names
    assert {LINEAR, "source accuracy", "target accuracy"} <= names
    names = {t.name for t in curves_figure(train, evals, adversarial=True).data}
    assert {LINEAR, "G_d error (held out)", "domain loss"} <= names
    lin = next(t for t in curves_figure(train, evals, compact=True, adversarial=False).data if t.name == LINEAR)
    assert list(lin.y) == [0.33] * 6
    shown = {t.meta["validator"] for t in validators_figure(_records(), adversarial=False).data
             if t.meta and "validator" in t.meta}
    assert shown == {"im", "entropy"}
    shown = {t.meta["validator"] for t in validators_figure(_records()).data if t.meta and "validator" in t.meta}
    assert "gd_error" in shown


def _ck(n=8, classes=2, domain=True):
    gx, gy = np.linspace(-2, 2, n).astype(np.float32), np.linspace(-1, 1, n + 1).astype(np.float32)
    xx = np.meshgrid(gx, gy)[0]
    p1 = (xx > 0).astype(np.float16)  # class 1 right of x = 0: a vertical boundary
    cp = np.stack([1 - p1, p1], -1) if classes == 2 else np.eye(classes, dtype=np.float16)[(xx > 0).astype(int)]
    ck = {files.PLANE["gx"]: gx, files.PLANE["gy"]: gy, files.PLANE["class_prob"]: cp, "pred": np.array([0, 1, 0, 1])}
    if domain:
        ck[files.PLANE["domain_prob"]] = np.full(xx.shape, 0.5, np.float16)
    return ck


def test_plane_figure_draws_the_regions_the_boundary_and_both_domains():
    x = np.array([[-1.0, 0.0], [1.0, 0.0], [-1.0, 0.5], [1.0, 0.5]])
    fig = moons.plane_figure(_ck(), x, np.array([0, 1, -1, -1]), np.array([0, 0, 1, 1]), title="t")
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 1 and np.array_equal(np.asarray(heat[0].z)[:, -1], np.ones(9))
    assert any(t.type == "contour" for t in fig.data)
    pts = {(t.meta["domain"], t.meta["class"]): len(t.x) for t in fig.data if t.type == "scatter" and t.meta}
    # the unlabelled target rows are drawn by the checkpoint's prediction (0, 1)
    assert pts == {("source", 0): 1, ("source", 1): 1, ("target", 0): 1, ("target", 1): 1}
    assert fig.layout.xaxis.range == (-2.0, 2.0)
    two = moons.plane_figure(_ck(), x, np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1]), with_domain=True)
    assert len([t for t in two.data if t.type == "heatmap"]) == 2


@pytest.mark.parametrize("ck", [{}, {"features": np.zeros((2, 2))}, {**_ck(), files.PLANE["class_prob"]: np.zeros(3)}])
def test_plane_figure_of_a_checkpoint_without_a_plane_is_none(ck):
    assert moons.plane_figure(ck, np.zeros((1, 2)), np.zeros(1), np.zeros(1)) is None


def test_plane_grid_of_more_classes_is_the_predicted_class():
    gx, gy, z, zd = moons.plane_grid(_ck(classes=3, domain=False))
    assert zd is None and set(np.unique(z)) == {0.0, 0.5}
