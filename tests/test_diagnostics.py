"""Class-conditional diagnostics: each measure on points whose answer is known, and the keys of
the trainer's evaluation records."""
import os

import numpy as np
import pytest

from dann_core.config import Config
from dann_core.eval import diagnostics as dg
from dann_core.eval.metrics import linear_domain_error
from dann_core.rundir.reader import RunReader
from dann_core.train import train


def _two_clusters(rng, n, shift=0.0):
    y = np.arange(n) % 2
    return rng.normal(size=(n, 3)) * 0.1 + np.c_[10.0 * y, np.zeros((n, 2))] + shift, y


def test_knn_and_centroid_agreement_see_class_alignment():
    rng = np.random.default_rng(0)
    fs, ys = _two_clusters(rng, 40)
    ft, yt = _two_clusters(rng, 30, shift=0.5)       # shifted, but each class next to its source class
    assert dg.knn_agreement(fs, ys, ft, yt) == 1.0
    assert dg.centroid_agreement(fs, ys, ft, yt, 2) == [1.0, 1.0]
    # the same clouds with the target classes swapped: marginally aligned, class by class not
    assert dg.knn_agreement(fs, ys, ft, 1 - yt) == 0.0
    assert dg.centroid_agreement(fs, ys, ft, 1 - yt, 2) == [0.0, 0.0]
    # a class with no target points: None; a third class absent from the source: never nearest
    cent = dg.centroid_agreement(fs, ys, ft[yt == 0], yt[yt == 0], 3)
    assert cent == [1.0, None, None] and dg.mean_of(cent) == 1.0 and dg.mean_of([None]) is None


def test_knn_votes_by_majority():
    fs = np.array([[0.0], [0.1], [0.2], [5.0]])
    ys = np.array([1, 1, 0, 0])
    assert dg.knn_agreement(fs, ys, np.array([[0.05]]), np.array([1]), k=3) == 1.0   # votes 1, 1, 0
    assert dg.knn_agreement(fs, ys, np.array([[0.05]]), np.array([0]), k=3) == 0.0


def test_confusion_and_class_proportions():
    y = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 1, 2])
    c = dg.confusion(y, pred, 3)
    assert c.tolist() == [[1, 1, 0], [0, 2, 0], [0, 1, 1]] and c.sum() == len(y)
    # predicted 1/6, 4/6, 1/6 against 2/6 each
    assert dg.class_prop_tv(pred, y, 3) == pytest.approx(0.5 * (1 / 6 + 2 / 6 + 1 / 6))
    assert dg.class_prop_tv(y, y, 3) == 0.0
    assert dg.class_prop_tv(np.zeros(4, int), np.ones(4, int), 2) == 1.0


def test_conditional_domain_error_per_predicted_class():
    rng = np.random.default_rng(1)
    fs = rng.normal(size=(200, 4))
    ys = np.repeat([0, 1], 100)
    ft = rng.normal(size=(200, 4))
    ft[:100] += np.array([6.0, 0, 0, 0])             # target predicted 0: far from source class 0
    pred = np.r_[np.zeros(100, int), np.ones(97, int), 2, 2, 2]
    err = dg.cond_domain_err(fs, ys, ft, pred, 3)
    assert err[0] < 0.05 and 0.3 < err[1] <= 0.7   # class 1: the same distribution on both sides
    assert err[2] is None                           # 3 target points, no source points of class 2


def test_linear_domain_error_wide_features_same_answer_as_the_primal_form():
    # fewer points than features: the solver works in the points' space; the classifier is the same
    rng = np.random.default_rng(2)
    fs, ft = rng.normal(size=(60, 300)), rng.normal(size=(60, 300)) + 0.15

    def primal(fs, ft, seed=0, ridge=1.0):
        x = np.concatenate([fs, ft])
        y = np.r_[-np.ones(len(fs)), np.ones(len(ft))]
        r = np.random.default_rng(seed)
        test = np.zeros(len(x), bool)
        for idx in (np.arange(len(fs)), len(fs) + np.arange(len(ft))):
            test[r.choice(idx, len(idx) // 2, replace=False)] = True
        mu, sd = x[~test].mean(0), x[~test].std(0) + 1e-6
        a = np.c_[(x - mu) / sd, np.ones(len(x))]
        w = np.linalg.solve(a[~test].T @ a[~test] + ridge * np.eye(a.shape[1]), a[~test].T @ y[~test])
        return float(np.mean(np.sign(a[test] @ w) != y[test]))
    for shift in (0.0, 0.15, 0.5):
        assert linear_domain_error(fs, ft + shift) == primal(fs, ft + shift)


NEW_KEYS = ("linear_domain_err_hidden", "knn_agreement", "knn_agreement_hidden", "confusion", "centroid_agreement",
            "centroid_agreement_mean", "target_entropy", "class_prop_tv", "cond_domain_err", "cond_domain_err_mean")


def _check_record(m, n_classes, n_target_test):
    for k in NEW_KEYS:
        assert k in m, k
    c = np.array(m["confusion"])
    assert c.shape == (n_classes, n_classes) and c.sum() == n_target_test and (c >= 0).all()
    # target accuracy is the confusion matrix's diagonal
    assert m["target_acc"] == pytest.approx(np.trace(c) / n_target_test, abs=1e-6)
    for k in ("linear_domain_err", "linear_domain_err_hidden", "knn_agreement", "knn_agreement_hidden",
              "class_prop_tv", "centroid_agreement_mean"):
        assert 0.0 <= m[k] <= 1.0, k
    assert 0.0 <= m["target_entropy"] <= np.log(n_classes) + 1e-6
    assert len(m["centroid_agreement"]) == n_classes and len(m["cond_domain_err"]) == n_classes
    assert all(v is None or 0.0 <= v <= 1.0 for v in m["centroid_agreement"] + m["cond_domain_err"])
    real = [v for v in m["cond_domain_err"] if v is not None]
    assert m["cond_domain_err_mean"] == (pytest.approx(np.mean(real)) if real else None)


def test_every_evaluation_record_has_the_new_keys(runs_dir):
    train(Config(pair="mnist-mnistm", max_steps=6, evals=2, n_probe=60, runs_dir=runs_dir, run_name="mm",
                 threads=1, device="cpu"), log=lambda m: None)
    r = RunReader(os.path.join(runs_dir, "mm"))
    evals = [m for m in r.metrics() if m.get("eval")]
    assert len(evals) == 3
    for m in evals:
        _check_record(m, 10, r.manifest()["sizes"]["target_test"])


def test_moons_records_the_same_figures_at_both_layers(runs_dir):
    s = train(Config(pair="moons", epochs=20, runs_dir=runs_dir, run_name="m", threads=1, device="cpu"),
              log=lambda m: None)
    last = [m for m in RunReader(os.path.join(runs_dir, "m")).metrics() if m.get("eval")][-1]
    _check_record(last, 2, 300)
    assert last["linear_domain_err_hidden"] == last["linear_domain_err"]
    assert last["knn_agreement_hidden"] == last["knn_agreement"]
    assert s["knn_agreement"] == last["knn_agreement"] and s["target_entropy"] == last["target_entropy"]
