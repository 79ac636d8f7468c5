"""Subspace Alignment (Fernando et al., ICCV 2013): the shallow baseline of the DANN paper.

Each domain's features are reduced to their top-d principal directions (P_s, P_t); the source
basis is aligned to the target one by M = P_s^T P_t; a classifier trained on the aligned source
X_s P_s M is applied to the target projected as X_t P_t.
"""
import numpy as np
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier


def _standardise(x):
    # centre per domain, one overall scale: unlike a per-feature z-score, this keeps the geometry
    mu = x.mean(0)
    sd = np.sqrt(((x - mu) ** 2).sum(1).mean()) + 1e-12
    return (x - mu) / sd, mu, sd


def align(xs, xt, d):
    """(aligned source, projected target, the target basis + its mean and scale for new target rows)."""
    xs, xt = np.asarray(xs, np.float64), np.asarray(xt, np.float64)
    d = int(min(d, xs.shape[1], len(xs) - 1, len(xt) - 1))
    (zs, _, _), (zt, mu_t, sd_t) = _standardise(xs), _standardise(xt)
    ps = PCA(d, random_state=0).fit(zs).components_.T
    pt = PCA(d, random_state=0).fit(zt).components_.T
    m = ps.T @ pt
    return zs @ ps @ m, zt @ pt, (pt, mu_t, sd_t)


def subspace_alignment_predict(xs, ys, xt_train, xt_test, d=30):
    """Fit on labelled source and unlabelled target-train features; predict target-test labels.

    The target statistics come from the unlabelled target-train rows only; 1-NN as in the SA paper.
    """
    src, _, (pt, mu, sd) = align(xs, xt_train, d)
    clf = KNeighborsClassifier(1).fit(src, ys)
    return clf.predict(((np.asarray(xt_test, np.float64) - mu) / sd) @ pt)
