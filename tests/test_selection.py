"""Choosing λ and checkpoints from evaluation records (dann_core/experiments/selection.py), on hand-made
sweeps whose answers are known: a validator equal to target accuracy, its negation, ties, missing
scores and missing labels."""
import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from dann_core.experiments import selection as S


def rec(step, target, **validators):
    return {"step": step, "eval": True, "target_acc": target, "validators": validators}


def sweep_of(targets_per_run, **fns):
    """One run per list of target accuracies (one per checkpoint, step 0 first); each validator in
    `fns` a function of the target accuracy."""
    return [[rec(100 * i, t, **{n: f(t) for n, f in fns.items()}) for i, t in enumerate(run)]
            for run in targets_per_run]


TARGETS = [[0.1, 0.5, 0.6, 0.55], [0.1, 0.7, 0.9, 0.8], [0.1, 0.4, 0.3, 0.35]]


def test_a_validator_equal_to_target_accuracy_is_perfect_and_its_negation_the_worst():
    runs = sweep_of(TARGETS, source_acc=lambda t: t, bnm=lambda t: -t, entropy=lambda t: t)
    good = S.assess(runs, S.Rule("source_acc"))
    assert good["lambda_pick"] == [1] and good["lambda_regret"] == 0 and good["checkpoint_regret"] == 0
    for k in ("spearman_checkpoints", "weighted_spearman_checkpoints", "spearman_runs", "weighted_spearman_runs"):
        assert good[k] == pytest.approx(1.0), k
    # bnm is higher-is-better: -target ranks every checkpoint backwards
    bad = S.assess(runs, S.Rule("bnm"))
    assert bad["lambda_pick"] == [2] and bad["lambda_regret"] == pytest.approx(0.8 - 0.35)
    # the worst checkpoint after step 0 in each run
    assert bad["checkpoint_regret"] == pytest.approx(np.mean([0.6 - 0.5, 0.9 - 0.7, 0.4 - 0.3]))
    for k in ("spearman_checkpoints", "weighted_spearman_checkpoints", "spearman_runs", "weighted_spearman_runs"):
        assert bad[k] == pytest.approx(-1.0), k
    # entropy is lower-is-better: equal to target accuracy, it is oriented into its negation
    assert S.assess(runs, S.Rule("entropy"))["spearman_runs"] == pytest.approx(-1.0)
    assert S.score(runs[0][1], "entropy") == -0.5 and S.score(runs[0][1], "source_acc") == 0.5


def test_step_0_is_no_candidate_and_the_baselines_read_no_score():
    runs = sweep_of(TARGETS, source_acc=lambda t: t)
    assert [r["step"] for r in S.candidates(runs[0])] == [100, 200, 300]
    b = S.baselines(runs)
    finals = [0.55, 0.8, 0.35]
    assert b["random"]["lambda_regret"] == pytest.approx(np.mean([0.8 - f for f in finals]))
    assert b["last checkpoint"]["checkpoint_regret"] == pytest.approx(np.mean([0.05, 0.1, 0.05]))
    assert b["random"]["checkpoint_regret"] == pytest.approx(np.mean(
        [np.mean([max(run[1:]) - t for t in run[1:]]) for run in TARGETS]))


def test_ties_are_all_picked_and_their_regret_is_the_mean():
    runs = sweep_of(TARGETS, gd_error=lambda t: 0.0)   # a validator that says nothing
    a = S.assess(runs, S.Rule("gd_error"))
    assert a["lambda_pick"] == [0, 1, 2]
    assert a["lambda_regret"] == pytest.approx(0.8 - np.mean([0.55, 0.8, 0.35]))
    assert a["spearman_runs"] is None and a["weighted_spearman_checkpoints"] is None  # no ranking to correlate
    # tied ranks: scipy's mid-ranks
    x, y = [1, 1, 2, 3], [0.1, 0.2, 0.3, 0.4]
    assert S.spearman(x, y) == pytest.approx(np.corrcoef([1.5, 1.5, 3, 4], [1, 2, 3, 4])[0, 1])
    assert S.spearman(x, y) == pytest.approx(spearmanr(x, y).statistic)
    assert S.weighted_spearman([1, 1, 2, 3], [1, 1, 2, 3]) == pytest.approx(1.0)
    assert S.weighted_spearman([1, 1, 2, 3], [3, 3, 2, 1]) == pytest.approx(-1.0)
    assert S.spearman([1], [1]) is None and S.weighted_spearman([1, 2], [5, 5]) is None


def test_weighted_spearman_counts_the_top_of_the_ranking_most():
    x = [1, 2, 3, 4, 5]
    swap_bottom, swap_top = [2, 1, 3, 4, 5], [1, 2, 3, 5, 4]
    assert S.spearman(x, swap_bottom) == pytest.approx(S.spearman(x, swap_top)) == pytest.approx(0.9)
    assert S.weighted_spearman(x, swap_bottom) > 0.9 > S.weighted_spearman(x, swap_top)
    # by hand, x = [1, 2, 3] against y = [1, 3, 2]: dense ranks / 3, weights max(.)^2 = [1/9, 1, 1];
    # weighted mid-ranks x: [1/18, 1/9 + 1/2, 10/9 + 1/2], y: [1/18, 10/9 + 1/2, 1/9 + 1/2]
    w = np.array([1 / 9, 1, 1])
    rx, ry = np.array([1 / 18, 11 / 18, 29 / 18]), np.array([1 / 18, 29 / 18, 11 / 18])
    mx, my = (w @ rx) / w.sum(), (w @ ry) / w.sum()
    want = (w @ ((rx - mx) * (ry - my))) / math.sqrt((w @ (rx - mx) ** 2) * (w @ (ry - my) ** 2))
    assert S.weighted_spearman([1, 2, 3], [1, 3, 2]) == pytest.approx(want)
    assert want < S.spearman([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)  # the disagreement is at the top
    # a monotone change of either side changes nothing
    assert S.weighted_spearman(np.exp(x), swap_top) == pytest.approx(S.weighted_spearman(x, swap_top))


def test_missing_scores_and_missing_labels():
    runs = sweep_of(TARGETS, source_acc=lambda t: t)
    runs[1][-1]["validators"]["source_acc"] = None      # undefined on the best run's last checkpoint
    assert S.lambda_pick(runs, S.Rule("source_acc")) == [0]
    runs[0][-1]["validators"]["source_acc"] = float("nan")
    assert S.lambda_pick(runs, S.Rule("source_acc")) == [2]
    assert S.lambda_pick(runs, S.Rule("snd")) == []     # a score no record has
    assert S.regret([r[-1] for r in runs], []) is None
    unlabelled = sweep_of(TARGETS, source_acc=lambda t: t)
    for run in unlabelled:
        for r in run:
            del r["target_acc"]
    a = S.assess(unlabelled, S.Rule("source_acc"))
    assert a["lambda_pick"] == [1] and a["lambda_regret"] is None and a["checkpoint_regret"] is None
    assert a["spearman_runs"] is None
    assert S.baselines(unlabelled)["random"]["lambda_regret"] is None


def test_the_source_guard_and_run_level_scores():
    runs = sweep_of(TARGETS, gd_error=lambda t: -t)
    for run, src in zip(runs, (0.99, 0.98, 0.70)):
        for r in run:
            r["validators"]["source_acc"] = src
    assert S.lambda_pick(runs, S.Rule("gd_error")) == [2]                # the wrecked source wins unguarded
    assert S.lambda_pick(runs, S.Rule("gd_error", tol=0.02)) == [0]
    assert S.lambda_pick(runs, S.Rule("gd_error", tol=0.5)) == [2]
    assert "within 0.02 of the best source accuracy" in S.RULES[S.GUARDED_GD].describe()
    runs[1][-1]["validators"][S.REVERSE] = 0.9   # a reverse run's score: the last checkpoint only
    runs[0][-1]["validators"][S.REVERSE] = 0.8
    a = S.assess(runs, S.RULES[S.REVERSE])
    assert a["lambda_pick"] == [1] and a["lambda_regret"] == 0
    assert a["checkpoint_regret"] is None and a["spearman_checkpoints"] is None
    assert a["spearman_runs"] == pytest.approx(1.0)
