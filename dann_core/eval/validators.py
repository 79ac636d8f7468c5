"""Label-free validators: scores of a checkpoint that need no target label, for choosing λ and
checkpoints when the target is unlabelled (Musgrave, Belongie & Lim 2022, arXiv 2208.07360).

Each validator is a pure function of numpy arrays the evaluation already holds, named by what it
reads of them:

    fs, ps, ys, ds   held-out source: features, class probabilities, labels, σ(G_d)
    ft, pt, dt       held-out target: features, class probabilities, σ(G_d) (no labels)

VALIDATORS is the registry: each entry's function, whether higher is better, a short label and
a one-line description. `score_all` runs them and returns raw values (None where a validator is
undefined on its input). Where the cost grows faster than the rows (SND's similarity matrix,
k-means, DEV's domain classifier), a validator draws at most MAX_ROWS rows per domain with its
own numpy Generator, so the scores are deterministic and no training RNG is touched.
"""
import inspect
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import softmax, xlogy
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_mutual_info_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ARRAYS = ("fs", "ps", "ys", "ds", "ft", "pt", "dt")
MAX_ROWS = 1000          # rows per domain for the validators whose cost grows faster than the rows
SND_TEMPERATURE = 0.05   # Saito et al.'s value
KMEANS_ITER = 20         # at most this many Lloyd iterations: cost, not convergence, sets the bound
DOMAIN_C = 1e-3          # L2 of DEV's domain classifier. On a trained mnist-mnistm checkpoint's 800-d features,
                         # C = 1 fit its training rows perfectly, weights up to 57; C = 1e-3: 97 %, up to 2.1
EPS = 1e-12              # probability floor for the logarithms and the importance weights


def _probs(p, name):
    p = np.asarray(p, np.float64)
    if p.ndim != 2 or len(p) == 0 or p.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty rows x classes array of probabilities, got shape {p.shape}")
    return p


def _rows(a, n, name, ndim):
    a = np.asarray(a)
    if a.ndim != ndim or len(a) != n:
        raise ValueError(f"{name} must have {n} rows and {ndim} dimension(s), got shape {a.shape}")
    return a


def _labels(y, n, n_classes, name="ys"):
    y = _rows(y, n, name, 1)
    if not np.issubdtype(y.dtype, np.integer) or (n and (y.min() < 0 or y.max() >= n_classes)):
        raise ValueError(f"{name} must be integer class labels in [0, {n_classes})")
    return y.astype(np.int64)


def _subsample(rng, n, max_rows):
    """Sorted row indices: all rows, or `max_rows` of them drawn without replacement."""
    return np.arange(n) if n <= max_rows else np.sort(rng.choice(n, max_rows, replace=False))


def row_entropy(p):
    """Entropy in nats of each row of probabilities `p` (0 log 0 = 0)."""
    return -xlogy(p, p).sum(1)


# ---- the validators


def source_acc(ps, ys):
    """Accuracy on the held-out source split."""
    ps = _probs(ps, "ps")
    return float(np.mean(ps.argmax(1) == _labels(ys, len(ps), ps.shape[1])))


def gd_error(ds, dt):
    """−|ε − 0.5| for G_d's error ε on both held-out splits (G_d says "target" where σ > 0.5):
    0 where G_d cannot tell the domains apart, −0.5 where it separates them (or inverts them)."""
    ds, dt = np.asarray(ds, np.float64).ravel(), np.asarray(dt, np.float64).ravel()
    if len(ds) == 0 or len(dt) == 0:
        raise ValueError("ds and dt must each hold at least one domain output")
    err = (np.sum(ds > 0.5) + np.sum(dt <= 0.5)) / (len(ds) + len(dt))
    return float(0.0 - abs(err - 0.5))  # 0.0, not -0.0, at ε = 0.5


def target_entropy(pt):
    """Mean entropy of the target predictions, in nats: low is confident."""
    return float(row_entropy(_probs(pt, "pt")).mean())


def info_max(pt):
    """Information maximisation (SHOT, Liang et al. 2020): H(mean prediction) − mean H(prediction).
    High: each prediction confident, and the classes used evenly."""
    pt = _probs(pt, "pt")
    return float(row_entropy(pt.mean(0, keepdims=True))[0] - row_entropy(pt).mean())


def bnm(pt):
    """Batch nuclear-norm (Cui et al. 2020): ‖P‖_* / n of the n × C target prediction matrix.
    High: confident and diverse predictions."""
    pt = _probs(pt, "pt")
    return float(np.linalg.svd(pt, compute_uv=False).sum() / len(pt))


def snd(pt, seed=0, max_rows=MAX_ROWS, temperature=SND_TEMPERATURE):
    """Soft neighbourhood density (Saito et al., ICCV 2021): L2-normalised target predictions,
    their cosine similarities to the other rows (the diagonal left out) / temperature, a softmax
    per row, and the mean entropy of those rows. High: the target sits in dense neighbourhoods."""
    pt = _probs(pt, "pt")
    if len(pt) < 2:
        return None
    p = pt[_subsample(np.random.default_rng(seed), len(pt), max_rows)]
    p = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), EPS)
    sim = p @ p.T / temperature
    np.fill_diagonal(sim, -np.inf)  # a row's own similarity is left out: its weight is exp(-inf) = 0
    return float(row_entropy(softmax(sim, axis=1)).mean())


def kmeans(x, k, rng, max_iter=KMEANS_ITER):
    """The cluster (0..k-1) of each row of `x`: Lloyd's iterations from a greedy k-means++ start
    (Arthur & Vassilvitskii 2007; each centre the best of 2 + ln k candidates, as sklearn's), drawn
    with the numpy Generator `rng`. Plain numpy on the process's BLAS threads: sklearn's KMeans runs
    OpenMP threads on every core whatever the trainer's --threads, and its set-up took 15-35 ms a
    call on moons-sized inputs, at every checkpoint."""
    n, trials = len(x), 2 + int(np.log(k))
    sq = np.einsum("ij,ij->i", x, x)

    def d2_to(rows):  # squared distances of every row to the rows `rows`: n x len(rows)
        return np.maximum(sq[:, None] - 2 * x @ x[rows].T + sq[rows][None, :], 0)

    centres = [int(rng.integers(n))]
    d2 = d2_to(centres)[:, 0]
    for _ in range(1, k):  # candidates drawn with probability ∝ squared distance to the nearest centre so far
        total = float(d2.sum(dtype=np.float64))
        cands = rng.choice(n, trials, p=d2.astype(np.float64) / total) if total > 0 else rng.integers(n, size=trials)
        options = np.minimum(d2[:, None], d2_to(cands))
        best = int(np.argmin(options.sum(0, dtype=np.float64)))
        centres.append(int(cands[best]))
        d2 = options[:, best]
    c, labels = x[centres].copy(), None
    for _ in range(max_iter):
        new = np.argmin(np.einsum("ij,ij->i", c, c)[None, :] - 2 * x @ c.T, axis=1)  # + |x|², the same per row
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        counts = np.bincount(labels, minlength=k)
        sums = (labels[None, :] == np.arange(k)[:, None]).astype(x.dtype) @ x
        filled = counts > 0  # an emptied cluster keeps its centre
        c[filled] = sums[filled] / counts[filled, None]
    return labels


def class_ami(fs, ys, ft, pt, seed=0, max_rows=MAX_ROWS, max_iter=KMEANS_ITER):
    """ClassAMI (Musgrave et al. 2022; pytorch-adapt's ClassClusterValidator with with_src=True):
    k-means (kmeans) with k = the number of classes on the target and source features together, and the
    adjusted mutual information between those clusters and the class labels (target: predicted,
    source: true). High: the feature space clusters by class in both domains."""
    pt = _probs(pt, "pt")
    n_classes = pt.shape[1]
    fs, ft = np.asarray(fs), _rows(ft, len(pt), "ft", 2)
    ys = _labels(ys, len(fs), n_classes)
    if fs.ndim != 2 or fs.shape[1] != ft.shape[1]:
        raise ValueError(f"fs and ft must be feature rows of the same width, got {fs.shape} and {ft.shape}")
    if len(fs) + len(ft) <= n_classes:
        return None
    rng = np.random.default_rng(seed)
    it, i_s = _subsample(rng, len(ft), max_rows), _subsample(rng, len(fs), max_rows)
    x = np.concatenate([ft[it], fs[i_s]])
    x = x.astype(np.result_type(x.dtype, np.float32), copy=False)  # float32 features stay float32: half the work
    labels = np.concatenate([pt[it].argmax(1), ys[i_s]])
    return float(adjusted_mutual_info_score(labels, kmeans(x, n_classes, rng, max_iter)))


def importance_weights(f_train, ft, f_val, classifier=None):
    """You et al.'s importance weights p_t(x) / p_s(x) of the source rows `f_val`, from a domain
    classifier fitted on source rows `f_train` (class 0) against target rows `ft` (class 1):
    P(t|x) / P(s|x) · n_train / n_target. `classifier`: an unfitted sklearn classifier with
    predict_proba (default: standardised features, L2-regularised logistic regression, DOMAIN_C)."""
    clf = classifier if classifier is not None else make_pipeline(StandardScaler(), LogisticRegression(C=DOMAIN_C))
    x = np.concatenate([f_train, ft])
    y = np.r_[np.zeros(len(f_train), np.int64), np.ones(len(ft), np.int64)]
    with warnings.catch_warnings():
        # a domain classifier short of full convergence still gives usable density ratios
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, y)
    p_t = np.clip(clf.predict_proba(np.asarray(f_val))[:, 1].astype(np.float64), EPS, 1 - EPS)
    return p_t / (1 - p_t) * (len(f_train) / len(ft))


def dev_risk(weights, loss, normalize=False):
    """The DEV risk (You et al., ICML 2019): mean(w·ℓ) + η·mean(w) − η with the control variate
    η = −cov(w·ℓ, w) / var(w), for importance weights `weights` and losses `loss` of the same
    source validation rows. `normalize`: DEVN's weights (Musgrave et al. 2022): divided by their
    maximum, then shifted to mean 1. Equal weights (var 0): η = 0."""
    w, loss = np.asarray(weights, np.float64).ravel(), np.asarray(loss, np.float64).ravel()
    if len(w) != len(loss) or len(w) < 2:
        raise ValueError(f"weights and loss must be two equal lengths of at least 2, got {len(w)} and {len(loss)}")
    if normalize:
        w = w / w.max()
        w = w - (w.mean() - 1)
    wl = w * loss
    var_w = np.var(w, ddof=1)
    eta = 0.0 if var_w == 0 else -np.cov(wl, w)[0, 1] / var_w
    return float(np.mean(wl) + eta * np.mean(w) - eta)


def dev_rows(fs, ps, ys, ft, seed=0, max_rows=MAX_ROWS):
    """(importance weights, cross-entropy) of the source rows DEV validates on: half the held-out
    source rows, weighted by a domain classifier fitted on the other half against the target
    (importance_weights)."""
    ps = _probs(ps, "ps")
    ys = _labels(ys, len(ps), ps.shape[1])
    fs, ft = _rows(fs, len(ps), "fs", 2), np.asarray(ft)
    if ft.ndim != 2 or ft.shape[1] != fs.shape[1]:
        raise ValueError(f"fs and ft must be feature rows of the same width, got {fs.shape} and {ft.shape}")
    if len(fs) < 4 or len(ft) < 2:
        return None
    rng = np.random.default_rng(seed)
    i_s, it = _subsample(rng, len(fs), max_rows), _subsample(rng, len(ft), max_rows)
    half = rng.permutation(i_s)
    train, val = half[: len(half) // 2], half[len(half) // 2:]
    w = importance_weights(fs[train], ft[it], fs[val])
    return w, -np.log(np.clip(ps[val, ys[val]], EPS, None))


def dev(fs, ps, ys, ft, seed=0, max_rows=MAX_ROWS, rows=None):
    """Deep embedded validation (You et al., ICML 2019): the importance-weighted cross-entropy of
    held-out source rows with the control variate (dev_rows, dev_risk). Low is better. `rows`:
    dev_rows' answer for these arrays where the caller has it (score_all: one fit for DEV and DEVN)."""
    rows = rows if rows is not None else dev_rows(fs, ps, ys, ft, seed, max_rows)
    return None if rows is None else dev_risk(*rows)


def devn(fs, ps, ys, ft, seed=0, max_rows=MAX_ROWS, rows=None):
    """DEV with the weights normalised (max, then mean 1; Musgrave et al. 2022), so that a few
    large weights weigh less. Low is better. `rows`: as in dev."""
    rows = rows if rows is not None else dev_rows(fs, ps, ys, ft, seed, max_rows)
    return None if rows is None else dev_risk(*rows, normalize=True)


# ---- the registry


@dataclass(frozen=True)
class Validator:
    fn: Callable
    higher_is_better: bool
    label: str
    description: str

    @property
    def inputs(self):
        """The arrays (ARRAYS) the function reads, from its parameters."""
        return tuple(p for p in inspect.signature(self.fn).parameters if p in ARRAYS)


VALIDATORS = {
    "source_acc": Validator(source_acc, True, "source accuracy", "accuracy on the held-out source split"),
    "gd_error": Validator(gd_error, True, "G_d error (−|ε − ½|)",
                          "−|ε − 0.5| of the domain classifier's held-out error ε: 0 when it cannot tell the domains"),
    "entropy": Validator(target_entropy, False, "target entropy", "mean entropy of the target predictions (nats)"),
    "im": Validator(info_max, True, "information maximisation",
                    "entropy of the mean target prediction minus the mean entropy of the predictions"),
    "bnm": Validator(bnm, True, "BNM", "nuclear norm of the target prediction matrix divided by its rows"),
    "snd": Validator(snd, True, "SND", "soft neighbourhood density of the target predictions (T = 0.05)"),
    "class_ami": Validator(class_ami, True, "ClassAMI",
                           "adjusted mutual information of k-means clusters of the features and the classes"),
    "dev": Validator(dev, False, "DEV", "importance-weighted source validation loss with a control variate"),
    "devn": Validator(devn, False, "DEVN", "DEV with the importance weights max-normalised to mean 1"),
}
# the validators that read G_d's outputs: none of them in a mode where G_d does not train
READS_GD = frozenset(n for n, v in VALIDATORS.items() if {"ds", "dt"} & set(v.inputs))


def score_all(arrays, seed=0, names=None):
    """{name: raw value} of the validators `names` (default: all, in registry order) on `arrays`,
    a dict holding the ARRAYS each one reads."""
    out, rows = {}, {}
    for name in names or VALIDATORS:
        if name not in VALIDATORS:
            raise ValueError(f"unknown validator {name!r}; known: {', '.join(VALIDATORS)}")
        v = VALIDATORS[name]
        missing = [a for a in v.inputs if arrays.get(a) is None]
        if missing:
            raise ValueError(f"validator {name!r} needs {', '.join(missing)}")
        kwargs = {a: arrays[a] for a in v.inputs}
        params = inspect.signature(v.fn).parameters
        if "seed" in params:
            kwargs["seed"] = seed
        if "rows" in params:  # DEV and DEVN validate on the same weighted rows: one domain classifier
            if "dev" not in rows:
                rows["dev"] = dev_rows(**kwargs)
            kwargs["rows"] = rows["dev"]
        out[name] = v.fn(**kwargs)
    return out
