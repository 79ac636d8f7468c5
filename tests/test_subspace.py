import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from dann_core.eval.subspace import subspace_alignment_predict


def test_subspace_alignment_helps_on_a_rotated_subspace():
    # classes live in a 3-d subspace; the target turns that subspace 60 degrees into other
    # dimensions, rescales and shifts it: raw 1-NN fails, aligning the PCA bases recovers it
    rng = np.random.default_rng(0)
    dim, k, n_cls = 20, 3, 4
    centres = np.zeros((n_cls, dim))
    centres[:, :k] = rng.normal(0, 4, (n_cls, k))
    noise = np.r_[np.ones(k), 0.3 * np.ones(dim - k)]

    def draw(n):
        y = rng.integers(n_cls, size=n)
        return centres[y] + rng.normal(0, 1, (n, dim)) * noise, y

    rot, t = np.eye(dim), np.deg2rad(60)
    for i in range(k):
        j = i + k
        rot[i, i] = rot[j, j] = np.cos(t)
        rot[i, j], rot[j, i] = np.sin(t), -np.sin(t)
    shift = lambda x: 2 * x @ rot + 5
    xs, ys = draw(600)
    xt_tr, _ = draw(600)
    xt_te, yt_te = draw(400)
    xt_tr, xt_te = shift(xt_tr), shift(xt_te)

    no_adapt = np.mean(KNeighborsClassifier(1).fit(xs, ys).predict(xt_te) == yt_te)
    sa = np.mean(subspace_alignment_predict(xs, ys, xt_tr, xt_te, d=k) == yt_te)
    assert no_adapt < 0.6
    assert sa > 0.8 and sa > no_adapt + 0.25
