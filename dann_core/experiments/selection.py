"""Choosing λ and a checkpoint without target labels, and measuring how well each validator does it.

Pure functions of evaluation records (the metrics.jsonl lines with "eval": true, docs/stream.md),
a sweep given as one list of records per run. A *rule* names a validator of the records'
`validators` (or REVERSE, a score of the run's last checkpoint that `sweep --reverse-validation`
adds) and, optionally, a guard: only candidates within `tol` of the best source accuracy.

    pick    the candidates with the best score, oriented by the validator's direction: a list,
            more than one where they tie. A λ pick compares each run's last checkpoint; a
            checkpoint pick compares one run's checkpoints after step 0 (the untrained network,
            which nobody would choose).
    regret  with target labels: the best target accuracy among the candidates minus the pick's
            (the mean over tied picks: what a random choice among them would lose on average).
    spearman, weighted_spearman   rank correlation of the oriented scores with target accuracy.

Target accuracy is read only to score a pick, never to make it.
"""
import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata, spearmanr

from dann_core.eval.validators import VALIDATORS

REVERSE = "reverse_validation"
RUN_LEVEL = (REVERSE,)   # scores of a run's last checkpoint only: nothing to pick a checkpoint with
HIGHER_IS_BETTER = {**{n: v.higher_is_better for n, v in VALIDATORS.items()}, REVERSE: True}
LABELS = {**{n: v.label for n, v in VALIDATORS.items()}, REVERSE: "reverse validation"}
WEIGHT_POWER = 2  # Musgrave et al.'s weights: (normalised rank) ** 2


@dataclass(frozen=True)
class Rule:
    validator: str
    tol: float = None   # a guard: only candidates within tol of the best source accuracy

    def describe(self):
        best = "lowest" if not HIGHER_IS_BETTER[self.validator] else "highest"
        text = f"{best} {LABELS[self.validator]}"
        return text if self.tol is None else f"{text} among the runs within {self.tol:g} of the best source accuracy"


GUARDED_GD = "gd_error_src"
RULES = {**{n: Rule(n) for n in HIGHER_IS_BETTER}, GUARDED_GD: Rule("gd_error", 0.02)}


def finite(v):
    return None if v is None or isinstance(v, bool) or not math.isfinite(v) else float(v)


def score(record, validator):
    """The record's score for `validator`, oriented so that higher is better; None where absent."""
    v = finite((record.get("validators") or {}).get(validator))
    return None if v is None else (v if HIGHER_IS_BETTER[validator] else -v)


def source_acc(record):
    return finite((record.get("validators") or {}).get("source_acc", record.get("source_acc")))


def target_acc(record):
    return finite(record.get("target_acc"))


def evals(records):
    """The evaluation records of a run's metrics, in step order."""
    return sorted((r for r in records if r.get("eval")), key=lambda r: r.get("step", 0))


def final(records):
    """A run's last evaluation record, or None for a run with none."""
    ev = evals(records)
    return ev[-1] if ev else None


def candidates(records):
    """A run's checkpoints a person would choose from: every evaluation after step 0."""
    ev = evals(records)
    return [r for r in ev if r.get("step", 0) > 0] or ev


def pick(cands, rule):
    """Indices into `cands` (evaluation records, None for a missing one) of the rule's best:
    all of them where they tie, [] where no candidate has the score."""
    ok = [i for i, r in enumerate(cands) if r is not None and score(r, rule.validator) is not None]
    if rule.tol is not None:
        src = {i: source_acc(cands[i]) for i in ok}
        top = max((s for s in src.values() if s is not None), default=None)
        ok = [i for i in ok if top is not None and src[i] is not None and src[i] >= top - rule.tol]
    if not ok:
        return []
    best = max(score(cands[i], rule.validator) for i in ok)
    return [i for i in ok if score(cands[i], rule.validator) == best]


def regret(cands, picked):
    """Best target accuracy among `cands` minus the mean of the picked ones'; None without a pick
    or where a candidate has no target accuracy (no target labels)."""
    accs = [None if r is None else target_acc(r) for r in cands]
    if not picked or any(a is None for a in accs):
        return None
    return max(accs) - float(np.mean([accs[i] for i in picked]))


def spearman(x, y):
    """Spearman's ρ (scipy), ties at their mean rank; None for fewer than 2 points or a constant side."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(spearmanr(x, y).statistic)


def _weighted_ranks(v, w):
    """Mid-ranks in units of weight: the weight of the lower values plus half a value's own (a tied
    group shares the half of its total weight)."""
    order = np.argsort(v, kind="stable")
    vs, ws = v[order], w[order]
    starts = np.r_[0, np.flatnonzero(np.diff(vs)) + 1]
    group_w = np.add.reduceat(ws, starts)
    below = np.cumsum(group_w) - group_w
    ranks = np.empty(len(v))
    ranks[order] = np.repeat(below + group_w / 2, np.diff(np.r_[starts, len(v)]))
    return ranks


def weighted_spearman(x, y, power=WEIGHT_POWER):
    """The weighted Spearman correlation of Musgrave, Belongie & Lim 2022 (their code:
    powerful-benchmarker validator_tests/utils/weighted_spearman.py): each point weighs
    max(dense rank of x, dense rank of y) / the top rank, to the `power`, so that the top of
    either ranking counts most; then the weighted Pearson correlation of weighted ranks. The
    ranks are weighted mid-ranks (_weighted_ranks), so that a reversed order gives exactly −1.
    None where spearman is."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if spearman(x, y) is None:
        return None
    rx, ry = (rankdata(v, method="dense") for v in (x, y))
    w = np.maximum(rx / rx.max(), ry / ry.max()) ** power
    c = np.cov(_weighted_ranks(x, w), _weighted_ranks(y, w), aweights=w)
    return float(np.clip(c[0, 1] / math.sqrt(c[0, 0] * c[1, 1]), -1.0, 1.0))


def correlations(records, validator):
    """(Spearman, weighted Spearman) of the validator's oriented scores with target accuracy over
    the records that have both."""
    pts = [(score(r, validator), target_acc(r)) for r in records]
    pts = [p for p in pts if p[0] is not None and p[1] is not None]
    x, y = [p[0] for p in pts], [p[1] for p in pts]
    return spearman(x, y), weighted_spearman(x, y)


def lambda_pick(runs, rule):
    """The runs (indices) the rule picks, comparing their last checkpoints. `runs`: one list of
    metrics records per run."""
    return pick([final(r) for r in runs], rule)


def assess(runs, rule):
    """How the rule does on one sweep: {lambda_pick (indices), lambda_regret, checkpoint_regret (mean
    over the runs), and, for an unguarded rule, spearman / weighted_spearman over the checkpoints
    (every run's candidates together) and over the runs (their last checkpoints)}. A RUN_LEVEL
    rule has no checkpoint figures (None)."""
    finals = [final(r) for r in runs]
    picked = pick(finals, rule)
    per_run = rule.validator not in RUN_LEVEL
    ck = [regret(candidates(r), pick(candidates(r), rule)) for r in runs] if per_run else [None]
    out = {"lambda_pick": picked, "lambda_regret": regret(finals, picked),
           "checkpoint_regret": None if any(v is None for v in ck) or not ck else float(np.mean(ck)),
           **{k: None for k in ("spearman_checkpoints", "weighted_spearman_checkpoints", "spearman_runs",
                                "weighted_spearman_runs")}}
    if rule.tol is None:
        if per_run:
            pooled = [c for r in runs for c in candidates(r)]
            out["spearman_checkpoints"], out["weighted_spearman_checkpoints"] = correlations(pooled, rule.validator)
        out["spearman_runs"], out["weighted_spearman_runs"] = correlations([f for f in finals if f], rule.validator)
    return out


def baselines(runs):
    """Regrets of picks that read no score: a uniformly random λ and checkpoint (the mean regret over
    the candidates), and each run's last checkpoint."""
    mean = lambda vs: None if not vs or any(v is None for v in vs) else float(np.mean(vs))
    finals, cands = [final(r) for r in runs], [candidates(r) for r in runs]
    rand_ck = [mean([regret(c, [i]) for i in range(len(c))]) for c in cands]
    last_ck = [regret(c, [len(c) - 1]) if c else None for c in cands]
    rand_lam = mean([regret(finals, [i]) for i in range(len(finals))])
    return {"random": {"lambda_regret": rand_lam, "checkpoint_regret": mean(rand_ck)},
            "last checkpoint": {"lambda_regret": None, "checkpoint_regret": mean(last_ck)}}
