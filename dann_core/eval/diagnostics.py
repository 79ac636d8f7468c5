"""Class-conditional diagnostics of a checkpoint: are the domains aligned class by class, or only
as two clouds?

DANN aligns the marginal distributions of the features; two clouds can overlap while target 6s
sit on source 4s (Zhao et al., ICML 2019). These measures see that. The first three read target
labels and are for evaluation only; the last three need none, so a person without target
labels can watch them:

    knn_agreement       share of target points whose k nearest source points vote their class
    centroid_agreement  per class c: share of target points of class c nearest to the source
                        centroid of class c
    confusion           the target confusion matrix (rows: true class, columns: predicted)
    class_prop_tv       total variation between the target's predicted class proportions and
                        the source's class proportions (label shift, or collapsed predictions)
    cond_domain_err     per predicted class c: the linear domain error between source points of
                        class c and target points predicted c (metrics.linear_domain_error)
    (and the entropy of the target predictions: objectives.entropy)

Plain numpy on arrays the evaluation already holds: milliseconds for a few thousand points.
"""
import numpy as np

from dann_core.eval.metrics import linear_domain_error

MIN_POINTS = 4   # fewer points than this on a side: no conditional domain error for that class


def knn_agreement(fs, ys, ft, yt, k=10):
    """Share of the target rows `ft` whose `k` nearest source rows `fs` (Euclidean) vote, by
    majority (ties: the lowest class), for the target row's own class `yt`."""
    fs, ft = np.asarray(fs, np.float64), np.asarray(ft, np.float64)
    ys, yt = np.asarray(ys), np.asarray(yt)
    if len(fs) == 0 or len(ft) == 0:
        return None
    k = min(k, len(fs))
    d2 = (ft ** 2).sum(1)[:, None] - 2.0 * ft @ fs.T + (fs ** 2).sum(1)[None, :]
    near = np.argpartition(d2, k - 1, axis=1)[:, :k]
    n = int(max(ys.max(), yt.max())) + 1
    votes = (ys[near][:, :, None] == np.arange(n)).sum(1)
    return float(np.mean(votes.argmax(1) == yt))


def confusion(y, pred, n_classes):
    """n_classes x n_classes counts: rows the true class, columns the predicted one."""
    y, pred = np.asarray(y, np.int64), np.asarray(pred, np.int64)
    return np.bincount(y * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def centroid_agreement(fs, ys, ft, yt, n_classes):
    """Per class c, the share of target rows of class c whose nearest source class centroid is
    c's (None for a class without target rows); centroids of the classes present in the source."""
    fs, ft, ys, yt = np.asarray(fs), np.asarray(ft), np.asarray(ys), np.asarray(yt)
    present = [c for c in range(n_classes) if np.any(ys == c)]
    if not present or len(ft) == 0:
        return [None] * n_classes
    # in the features' own precision: whole test splits of wide features stay small in memory
    cent = np.stack([fs[ys == c].mean(0, dtype=np.float64) for c in present]).astype(ft.dtype)
    d2 = (ft ** 2).sum(1)[:, None] - 2.0 * ft @ cent.T + (cent ** 2).sum(1)[None, :]
    nearest = np.asarray(present)[d2.argmin(1)]
    return [float(np.mean(nearest[yt == c] == c)) if np.any(yt == c) else None for c in range(n_classes)]


def class_prop_tv(pred_t, ys, n_classes):
    """Total variation distance between the target's predicted class proportions (hard
    predictions) and the source's class proportions: 0 same, 1 disjoint."""
    pt = np.bincount(np.asarray(pred_t, np.int64), minlength=n_classes) / max(1, len(pred_t))
    ps = np.bincount(np.asarray(ys, np.int64), minlength=n_classes) / max(1, len(ys))
    return float(0.5 * np.abs(pt - ps).sum())


def cond_domain_err(fs, ys, ft, pred_t, n_classes, min_points=MIN_POINTS):
    """Per class c: linear_domain_error between the source rows of class c and the target rows
    predicted c; None where either side has fewer than `min_points` rows."""
    ys, pred_t = np.asarray(ys), np.asarray(pred_t)
    out = []
    for c in range(n_classes):
        a, b = fs[ys == c], ft[pred_t == c]
        out.append(linear_domain_error(a, b) if len(a) >= min_points and len(b) >= min_points else None)
    return out


def mean_of(values):
    """Mean of the entries that are not None; None when there are none."""
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None
