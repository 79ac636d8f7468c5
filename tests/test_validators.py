"""Label-free validators: each on a small case whose answer is known by hand or by construction,
against skada where it implements one, and in the evaluation records (with and without target
labels)."""
import math
import os

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_mutual_info_score

from dann_core.config import Config
from dann_core.eval import validators as V
from dann_core.eval.evaluation import evaluate
from dann_core.nn.models import build_model
from dann_core.rundir.reader import RunReader
from dann_core.train import train


def _one_hot(labels, n_classes):
    return np.eye(n_classes)[np.asarray(labels)]


# ---- the registry


def test_registry_says_direction_label_and_description_of_each():
    assert {"source_acc", "gd_error", "entropy", "im", "bnm", "snd", "class_ami", "dev", "devn"} <= set(V.VALIDATORS)
    for name, v in V.VALIDATORS.items():
        assert isinstance(v.higher_is_better, bool) and v.label and "\n" not in v.description, name
        assert v.inputs and set(v.inputs) <= set(V.ARRAYS), name
        assert "yt" not in v.inputs  # label-free: no validator can ask for target labels
    lower = {n for n, v in V.VALIDATORS.items() if not v.higher_is_better}
    assert lower == {"entropy", "dev", "devn"}


def _arrays(seed=0, ns=120, nt=100, d=6, c=3):
    rng = np.random.default_rng(seed)
    ys = rng.integers(0, c, ns)
    fs = rng.normal(size=(ns, d)) + 3 * _one_hot(ys, c).repeat(2, 1)
    ft = rng.normal(size=(nt, d)) + 3 * _one_hot(rng.integers(0, c, nt), c).repeat(2, 1) + 0.5
    ps = np.clip(_one_hot(ys, c) * 0.8 + rng.random((ns, c)) * 0.2, 1e-3, None)
    pt = rng.dirichlet(np.ones(c), nt)
    return {"fs": fs, "ps": ps / ps.sum(1, keepdims=True), "ys": ys, "ds": rng.random(ns), "ft": ft, "pt": pt,
            "dt": rng.random(nt)}


def test_score_all_is_deterministic_and_refuses_bad_input_in_one_line():
    a = _arrays()
    first, again = V.score_all(a), V.score_all(a)
    assert list(first) == list(V.VALIDATORS) and first == again
    assert all(isinstance(v, float) and math.isfinite(v) for v in first.values())
    assert V.score_all(a, seed=1)["class_ami"] is not None
    # DEV and DEVN share one domain classifier in score_all: the same values as alone
    assert first["dev"] == V.dev(a["fs"], a["ps"], a["ys"], a["ft"]) and first["devn"] == V.devn(
        a["fs"], a["ps"], a["ys"], a["ft"])
    bad = [({**a, "pt": None}, "needs pt"), ({**a, "ys": a["ys"][:5]}, "ys must have"),
           ({**a, "pt": a["pt"][:, 0]}, "pt must be"), ({**a, "ys": a["ys"] + 7}, "class labels"),
           ({**a, "ft": a["ft"][:, :2]}, "same width")]
    for arrays, msg in bad:
        with pytest.raises(ValueError, match=msg) as e:
            V.score_all(arrays)
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="unknown validator 'nope'"):
        V.score_all(a, names=["nope"])


# ---- each validator on a case whose answer is known


def test_source_accuracy_and_domain_classifier_error():
    assert V.source_acc(_one_hot([0, 1, 1, 2], 3), np.array([0, 1, 2, 2])) == 0.75
    # G_d says "target" above 0.5: a perfect G_d has error 0 (score -0.5), an inverted one error 1
    assert V.gd_error(np.zeros(4), np.ones(6)) == -0.5 and V.gd_error(np.ones(4), np.zeros(6)) == -0.5
    at_chance = V.gd_error(np.full(4, 0.5), np.full(4, 0.5))      # every point called source: error 0.5
    assert at_chance == 0.0 and math.copysign(1, at_chance) == 1  # 0.0 in the stream, not -0.0
    assert V.gd_error(np.array([0.1, 0.9]), np.array([0.9, 0.9])) == pytest.approx(-0.25)  # error 1/4


def test_entropy_and_information_maximisation_of_known_predictions():
    c = 5
    uniform = np.full((8, c), 1 / c)
    balanced = _one_hot(np.arange(10) % c, c)
    collapsed = _one_hot(np.zeros(10, int), c)
    assert V.target_entropy(uniform) == pytest.approx(np.log(c)) and V.target_entropy(balanced) == 0.0
    assert V.info_max(uniform) == pytest.approx(0.0, abs=1e-12)
    assert V.info_max(balanced) == pytest.approx(np.log(c))       # confident and diverse: the maximum
    assert V.info_max(collapsed) == 0.0                            # confident, one class for all
    # half the rows confident on class 0, half uniform over 2 classes: H(mean) - mean H by hand
    p = np.array([[1.0, 0.0]] * 2 + [[0.5, 0.5]] * 2)
    mean = np.array([0.75, 0.25])
    assert V.info_max(p) == pytest.approx(-(mean * np.log(mean)).sum() - 0.5 * np.log(2))


def test_bnm_of_known_predictions():
    c = 4
    assert V.bnm(np.eye(c)) == pytest.approx(1.0)                            # n = C one-hot, one per class
    # n balanced one-hot rows: singular values sqrt(n / C), C of them, so ||P||_* / n = sqrt(C / n)
    assert V.bnm(_one_hot(np.arange(12) % c, c)) == pytest.approx(math.sqrt(c / 12))
    # uniform predictions: rank one, singular value sqrt(n / C)
    assert V.bnm(np.full((12, c), 1 / c)) == pytest.approx(math.sqrt(12 / c) / 12)
    assert V.bnm(_one_hot(np.zeros(12, int), c)) == pytest.approx(math.sqrt(12) / 12)  # collapsed: rank one


def test_snd_of_known_neighbourhoods():
    n = 9
    # every row alike: each row's softmax is uniform over the n - 1 others
    assert V.snd(np.full((n, 3), 1 / 3)) == pytest.approx(np.log(n - 1))
    # three groups of 3 one-hot rows: cosine 1 to the 2 others of a row's group, 0 to the 6 outside
    p = _one_hot(np.arange(n) % 3, 3)
    a, b = np.exp(1 / V.SND_TEMPERATURE), 1.0
    z = 2 * a + 6 * b
    want = -(2 * (a / z) * np.log(a / z) + 6 * (b / z) * np.log(b / z))
    assert V.snd(p) == pytest.approx(want)
    # more rows than max_rows: max_rows of them, drawn by the seed
    assert V.snd(np.full((300, 3), 1 / 3), max_rows=100) == pytest.approx(np.log(99))
    assert V.snd(np.full((1, 3), 1 / 3)) is None


def _inertia(x, labels):
    return sum(((x[labels == j] - x[labels == j].mean(0)) ** 2).sum() for j in np.unique(labels))


def test_kmeans_finds_what_sklearn_finds():
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(4, 5)) * 8
    x = centres[np.repeat(np.arange(4), 50)] + rng.normal(size=(200, 5))
    ours = V.kmeans(x, 4, np.random.default_rng(0))
    theirs = KMeans(4, n_init=1, random_state=0).fit_predict(x)
    assert adjusted_rand_score(ours, theirs) == 1.0 and adjusted_rand_score(ours, np.repeat(np.arange(4), 50)) == 1.0
    # overlapping clusters: a local optimum as good as sklearn's, for a few seeds each
    x = centres[rng.integers(0, 4, 400)] / 4 + rng.normal(size=(400, 5))
    best_ours = min(_inertia(x, V.kmeans(x, 4, np.random.default_rng(s))) for s in range(3))
    best_theirs = min(_inertia(x, KMeans(4, n_init=1, random_state=s).fit_predict(x)) for s in range(3))
    assert best_ours == pytest.approx(best_theirs, rel=0.02)
    assert np.array_equal(V.kmeans(x, 4, np.random.default_rng(1)), V.kmeans(x, 4, np.random.default_rng(1)))


def test_class_ami_sees_whether_clusters_follow_the_classes():
    rng = np.random.default_rng(0)
    c, m = 3, 40
    centres = 10.0 * np.eye(c)
    ys = np.repeat(np.arange(c), m)
    fs = centres[ys] + 0.1 * rng.normal(size=(c * m, c))
    yt = np.repeat(np.arange(c), m)
    ft = centres[yt] + 0.1 * rng.normal(size=(c * m, c)) + 0.3
    assert V.class_ami(fs, ys, ft, _one_hot(yt, c)) == pytest.approx(1.0)
    # the target's predictions rotated: each cluster holds source class k and target predicted k+1. The
    # clusters are the centres (by construction), so the answer is the AMI of labels against centres.
    rotated = (yt + 1) % c
    want = adjusted_mutual_info_score(np.r_[rotated, ys], np.r_[yt, ys])
    assert V.class_ami(fs, ys, ft, _one_hot(rotated, c)) == pytest.approx(want) and want < 0.7
    # the source's true labels count as well (pytorch-adapt's with_src=True): shuffled, the score falls
    assert V.class_ami(fs, rng.permutation(ys), ft, _one_hot(yt, c)) < 0.7


def test_dev_risk_by_hand():
    loss = np.array([0.3, 1.2, 0.1, 0.8])
    # equal weights (the domains alike): the control variate is off and DEV is the mean loss
    assert V.dev_risk(np.ones(4), loss) == pytest.approx(loss.mean())
    # a constant loss is returned whatever the weights: the control variate cancels their mean
    w = np.random.default_rng(0).random(50) * 3
    assert V.dev_risk(w, np.full(50, 0.7)) == pytest.approx(0.7)
    # weights 1, 2, 3 and losses 1, 0, 2: mean(w l) = 7/3, cov(w l, w) = 5/2, var(w) = 1, eta = -5/2,
    # DEV = 7/3 - 5/2 * 2 + 5/2 = -1/6
    assert V.dev_risk([1, 2, 3], [1, 0, 2]) == pytest.approx(-1 / 6)
    # DEVN: 1, 2, 3 divided by 3 and shifted to mean 1 give 2/3, 1, 4/3; mean(w l) = 10/9
    assert V.dev_risk([1, 2, 3], [1, 0, 2], normalize=True) == pytest.approx(10 / 9)
    with pytest.raises(ValueError, match="equal lengths"):
        V.dev_risk([1, 2], [1, 2, 3])


def test_dev_weights_the_source_rows_that_look_like_the_target():
    rng = np.random.default_rng(0)
    n = 400
    near = np.r_[np.zeros(n // 2, bool), np.ones(n // 2, bool)]     # half the source near the target region
    fs = rng.normal(size=(n, 2)) + 3.0 * near[:, None]
    ys = np.zeros(n, int)
    right = np.where(near, 0.9, 0.2)                                 # the probability of the true class
    ps = np.c_[right, 1 - right]
    loss_far, loss_near = -np.log(0.2), -np.log(0.9)
    like_near = rng.normal(size=(300, 2)) + 3.0
    like_far = rng.normal(size=(300, 2))
    alike = fs[rng.permutation(n)] + 0.01 * rng.normal(size=(n, 2))  # the source's own distribution
    d_near, d_far, d_alike = (V.dev(fs, ps, ys, ft) for ft in (like_near, like_far, alike))
    mean = (loss_far + loss_near) / 2
    assert loss_near < d_near < mean < d_far < loss_far
    assert d_alike == pytest.approx(mean, rel=0.15)
    assert V.devn(fs, ps, ys, like_near) < mean < V.devn(fs, ps, ys, like_far)


# ---- against skada (scikit-learn domain adaptation), where it implements the validator


@pytest.fixture
def skada_model():
    pytest.importorskip("skada")
    from skada import SelectSource, make_da_pipeline
    from sklearn.preprocessing import StandardScaler
    rng = np.random.default_rng(3)
    ns, nt, c = 150, 120, 3
    ys = rng.integers(0, c, ns)
    xs = rng.normal(size=(ns, 4)) + ys[:, None]
    xt = rng.normal(size=(nt, 4)) + rng.integers(0, c, nt)[:, None] + 0.7
    x, sd = np.vstack([xs, xt]), np.r_[np.ones(ns, int), -2 * np.ones(nt, int)]
    y = np.r_[ys, -np.ones(nt, int)]  # the target's labels masked, as skada expects
    est = make_da_pipeline(StandardScaler(), SelectSource(LogisticRegression())).fit(x, y, sample_domain=sd)
    return est, x, y, sd, ns


def test_entropy_and_snd_match_skada(skada_model):
    from skada.metrics import PredictionEntropyScorer, SoftNeighborhoodDensity
    est, x, y, sd, ns = skada_model
    pt = est.predict_proba(x[ns:], sample_domain=sd[ns:])
    # skada's "mean" is over all n x C terms of -p log p, and its sign makes higher better: ours / C, negated
    assert PredictionEntropyScorer()(est, x, y, sample_domain=sd) == pytest.approx(-V.target_entropy(pt) / 3)
    # skada sets the diagonal to -1/T rather than leaving it out: exp(-40) relative, far below the tolerance
    assert SoftNeighborhoodDensity()(est, x, y, sample_domain=sd) == pytest.approx(V.snd(pt), rel=1e-9)


def test_dev_weights_and_losses_match_skada(skada_model):
    # skada's DeepEmbeddedValidation draws its own split of the source (2/3 to fit the domain classifier,
    # 1/3 to validate) inside the scorer; this reproduces that split and scores with ours
    from skada.metrics import DeepEmbeddedValidation
    from sklearn.model_selection import train_test_split
    est, x, y, sd, ns = skada_model
    x_train, x_val, _, y_val = train_test_split(x[:ns], y[:ns], test_size=0.33, random_state=np.random.RandomState(0))
    features = est[:1].transform   # the pipeline's last transform, as skada takes it
    f_train, f_val, f_target = features(x_train), features(x_val), features(x[ns:])
    w = V.importance_weights(f_train, f_target, f_val, classifier=LogisticRegression())
    # skada's weights: its classifier calls the source 1 and the target 0
    source_is_1 = np.r_[np.ones(len(f_train)), np.zeros(len(f_target))]
    dom = LogisticRegression().fit(np.vstack([f_train, f_target]), source_is_1)
    d = dom.predict_proba(f_val)
    assert w == pytest.approx(len(f_train) / len(f_target) * d[:, 0] / d[:, 1], rel=1e-6)
    p_val = est.predict_proba(x_val, sample_domain=np.ones(len(x_val), int), allow_source=True)
    loss = -np.log(np.clip(p_val[np.arange(len(y_val)), y_val], 1e-15, None))
    # skada 0.6.0 multiplies its (n, 1) weights by the (n,) losses, which broadcasts to an n x n matrix, so
    # its score is not You et al.'s (a direct comparison is impossible). The same broadcast of our weights
    # and losses gives its number exactly; our risk takes the per-row products (test_dev_risk_by_hand).
    skada = -DeepEmbeddedValidation(random_state=0)(est, x, y, sample_domain=sd)   # skada negates: higher better
    wl = w[:, None] * loss
    eta = -np.cov(np.concatenate([wl, w[:, None]], axis=1), rowvar=False)[0, 1] / np.var(w, ddof=1)
    assert skada == pytest.approx(wl.mean() + eta * w.mean() - eta, rel=1e-6)


# ---- in the evaluation


KEYS_WITH_TARGET_LABELS = {"target_acc", "confusion", "knn_agreement", "knn_agreement_hidden", "centroid_agreement",
                           "centroid_agreement_mean"}


@pytest.mark.parametrize("model, shape", [("moons_mlp", (2,)), ("mnist_bn", (3, 28, 28))])
def test_evaluation_without_target_labels_keeps_every_label_free_key(model, shape):
    torch.manual_seed(0)
    n_classes = 3 if model == "mnist_bn" else 2
    net = build_model(model, shape, n_classes, "dann")
    g = torch.Generator().manual_seed(0)
    if model == "mnist_bn":
        kind, xs, xt = "image", *(torch.randint(0, 256, (40, *shape), generator=g, dtype=torch.uint8) for _ in "st")
    else:
        kind, xs, xt = "points", torch.randn(40, 2, generator=g), torch.randn(40, 2, generator=g) + 1
    ys, yt = (torch.randint(0, n_classes, (40,), generator=g) for _ in "st")
    labelled, probe = evaluate(net, xs, ys, xt, yt, kind, 20)
    unlabelled, probe_u = evaluate(net, xs, ys, xt, None, kind, 20)
    assert set(labelled) - set(unlabelled) == KEYS_WITH_TARGET_LABELS   # absent, not NaN
    assert set(unlabelled) <= set(labelled)
    assert {k: labelled[k] for k in unlabelled} == unlabelled            # the label-free keys: the same values
    assert set(unlabelled["validators"]) == set(V.VALIDATORS)
    assert all(np.array_equal(probe[k], probe_u[k]) for k in probe)
    assert "validators" not in evaluate(net, xs, ys, xt, None, kind, 20, validators=False)[0]


def test_every_evaluation_record_of_a_run_has_the_validators(runs_dir):
    train(Config(pair="moons", max_steps=60, ckpt_every=30, runs_dir=runs_dir, run_name="m", threads=1, device="cpu"),
          log=lambda m: None)
    evals = [m for m in RunReader(os.path.join(runs_dir, "m")).metrics() if m.get("eval")]
    assert [m["step"] for m in evals] == [0, 30, 60]
    for m in evals:
        v = m["validators"]
        assert list(v) == list(V.VALIDATORS) and all(x is None or math.isfinite(x) for x in v.values())
        assert v["source_acc"] == pytest.approx(m["source_acc"], abs=1e-6)
        assert v["gd_error"] == pytest.approx(-abs(m["domain_err"] - 0.5))
        assert v["entropy"] == pytest.approx(m["target_entropy"], rel=1e-5)
