"""Label-free measures of domain shift on features."""
import numpy as np


def linear_domain_error(fs, ft, seed=0, ridge=1.0):
    """Held-out error of a linear classifier telling source features `fs` from target `ft`.

    Trained on a random half of each domain, tested on the other half. A closed-form ridge
    classifier on standardised features: milliseconds, so the trainer can log it at every
    checkpoint in every mode, G_d or not. 0.5 means the domains are indistinguishable.
    """
    fs, ft = np.asarray(fs, np.float64), np.asarray(ft, np.float64)
    if len(fs) < 4 or len(ft) < 4:
        raise ValueError("need at least 4 points per domain")
    x = np.concatenate([fs, ft])
    y = np.concatenate([-np.ones(len(fs)), np.ones(len(ft))])
    rng = np.random.default_rng(seed)
    test = np.zeros(len(x), bool)
    for idx in (np.arange(len(fs)), len(fs) + np.arange(len(ft))):
        test[rng.choice(idx, len(idx) // 2, replace=False)] = True
    mu, sd = x[~test].mean(0), x[~test].std(0) + 1e-6
    z = (x - mu) / sd
    a = np.c_[z, np.ones(len(z))]
    tr = ~test
    at = a[tr]
    if len(at) < at.shape[1]:  # fewer points than features: the same ridge solution, in the points' space
        w = at.T @ np.linalg.solve(at @ at.T + ridge * np.eye(len(at)), y[tr])
    else:
        w = np.linalg.solve(at.T @ at + ridge * np.eye(at.shape[1]), at.T @ y[tr])
    return float(np.mean(np.sign(a[test] @ w) != y[test]))


def proxy_a_distance(err):
    """PAD = 2 (1 - 2 eps) (Ben-David et al.; used in the DANN paper) of a domain classifier's
    held-out error eps (a number or an array). 0: the domains look alike, 2: separable."""
    return 2.0 * (1.0 - 2.0 * np.minimum(err, 0.5))
