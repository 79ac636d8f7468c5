"""The paper's schedules, as functions of training progress p in [0, 1]."""
import math


def paper_lambda(p, lambda_max=1.0, gamma=10.0):
    """lambda_p = lambda_max * (2 / (1 + exp(-gamma p)) - 1): 0 at the start, so early noisy
    domain gradients do not wreck G_f, rising to lambda_max."""
    return lambda_max * (2.0 / (1.0 + math.exp(-gamma * p)) - 1.0)


def lambda_at(p, schedule, lambda_max, gamma=10.0):
    if schedule == "paper":
        return paper_lambda(p, lambda_max, gamma)
    if schedule == "constant":
        return float(lambda_max)
    raise ValueError(f"unknown lambda schedule {schedule!r} (use 'paper' or 'constant')")


def annealed_lr(p, lr0=0.01, alpha=10.0, beta=0.75):
    """mu_p = mu_0 / (1 + alpha p)^beta; alpha=0 gives a constant rate."""
    return lr0 / (1.0 + alpha * p) ** beta
