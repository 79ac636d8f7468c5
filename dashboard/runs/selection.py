"""What each label-free validator would choose (docs/stream.md, "Label-free validators"): the
checkpoint of a run it scores best, the λ of a sweep whose final checkpoint it scores best, and,
where the target has labels, the target accuracy that choice loses against the best one (its
regret). Pure functions of metric records; the registry (direction, label, description) is
dann_core.eval.validators.VALIDATORS. A tie goes to the earlier checkpoint or the smaller λ.
"""
import math
from dataclasses import dataclass

from dann_core.eval.validators import VALIDATORS


def _num(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def evaluations(records):
    """The evaluation records, one per step (the last one written), by step."""
    by_step = {}
    for r in records or ():
        if isinstance(r, dict) and r.get("eval") and isinstance(r.get("step"), int):
            by_step[r["step"]] = r
    return [by_step[s] for s in sorted(by_step)]


def score(record, name):
    """Validator `name`'s raw value in an evaluation record, or None (absent, null, not finite)."""
    vals = (record or {}).get("validators")
    return _num(vals.get(name)) if isinstance(vals, dict) else None


def target_acc(record):
    return _num((record or {}).get("target_acc"))


def names_in(records):
    """The registry's validators that some evaluation record holds a value of, in registry order."""
    evals = evaluations(records)
    return [n for n in VALIDATORS if any(score(r, n) is not None for r in evals)]


def best(items, name):
    """The (key, record) of `items` whose record validator `name` scores best, or None (no
    record holds a value). The first such item wins a tie."""
    sign = 1.0 if VALIDATORS[name].higher_is_better else -1.0
    scored = [(sign * score(r, name), -i, key, r) for i, (key, r) in enumerate(items) if score(r, name) is not None]
    if not scored:
        return None
    _, _, key, rec = max(scored, key=lambda t: t[:2])
    return key, rec


def checkpoint_picks(records):
    """{validator: step} of the checkpoint each validator scores best over the run."""
    items = [(r["step"], r) for r in evaluations(records)]
    out = {}
    for name in VALIDATORS:
        hit = best(items, name)
        if hit is not None:
            out[name] = hit[0]
    return out


def keeps_line(picks, records, current=None, labelled=True):
    """One line for a checkpoint slider: the steps the validators would keep, each with the
    validators keeping it (and its target accuracy, where the target has labels); the current
    step in bold. '' when no validator scored this run."""
    if not picks:
        return ""
    at = {r["step"]: r for r in evaluations(records)}
    groups = {}
    for name, step in picks.items():
        groups.setdefault(step, []).append(VALIDATORS[name].label)
    parts = []
    for step in sorted(groups):
        acc = target_acc(at.get(step)) if labelled else None
        head = f"step {step}" + (f" (target accuracy {acc:.3f})" if acc is not None else "")
        head = f"**{head}, this one**" if step == current else head
        parts.append(f"{head}: {', '.join(groups[step])}")
    return "Validators would keep " + " · ".join(parts)


@dataclass(frozen=True)
class Pick:
    """A validator's choice among a sweep's runs (λ_max None: no run holds its value)."""
    name: str
    lambda_max: float = None
    run: str = None
    score: float = None
    target_acc: float = None   # of the picked run's final checkpoint (None: no labels)
    regret: float = None       # the best run's target accuracy minus the picked one's (None: no labels)


def sweep_picks(runs):
    """Each validator's Pick among a sweep's runs, `runs` = [(λ_max, run name, records)], by the
    final evaluation of each run (its last checkpoint)."""
    finals = []
    for lam, run, records in sorted(runs, key=lambda t: float(t[0])):
        evals = evaluations(records)
        if evals:
            finals.append(((float(lam), run), evals[-1]))
    accs = [target_acc(r) for _, r in finals if target_acc(r) is not None]
    top = max(accs) if accs else None
    out = []
    for name in VALIDATORS:
        hit = best(finals, name)
        if hit is None:
            out.append(Pick(name))
            continue
        (lam, run), rec = hit
        acc = target_acc(rec)
        out.append(Pick(name, lam, run, score(rec, name), acc,
                        None if acc is None or top is None else top - acc))
    return out


def picks_table(picks, labelled=True):
    """Rows for a table of sweep_picks: validator, its direction, the λ_max it picks, its score;
    and, where the target has labels, that run's target accuracy and the regret."""
    rows = []
    for p in picks:
        v = VALIDATORS[p.name]
        row = {"validator": v.label, "better": "higher" if v.higher_is_better else "lower",
               "picks λ_max": p.lambda_max, "score": p.score}
        if labelled:
            row.update({"target acc": p.target_acc, "regret": p.regret})
        row["what it reads"] = v.description
        rows.append(row)
    return rows
