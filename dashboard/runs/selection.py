"""What each label-free validator would choose, as the pages show it: the checkpoint of a run it
scores best, the λ of a sweep whose final checkpoint it scores best, and, where the target has
labels, the target accuracy that choice loses against the best one (its regret). The choosing is
dann_core.experiments.selection's (the rule `dann sweep` and `dann validators` use: step 0 is no
candidate); where picks tie, the pages show the earlier checkpoint or the smaller λ.
"""
from dataclasses import dataclass

from dann_core.eval.validators import VALIDATORS
from dann_core.experiments import selection as core


def evaluations(records):
    """The evaluation records, one per step (the last one written), by step."""
    by_step = {}
    for r in records or ():
        if isinstance(r, dict) and r.get("eval") and isinstance(r.get("step"), int):
            by_step[r["step"]] = r
    return [by_step[s] for s in sorted(by_step)]


def raw(record, name):
    """Validator `name`'s raw value in an evaluation record, or None (absent, null, not finite)."""
    vals = (record or {}).get("validators")
    return core.finite(vals.get(name)) if isinstance(vals, dict) else None


def names_in(records):
    """The registry's validators that some evaluation record holds a value of, in registry order."""
    evals = evaluations(records)
    return [n for n in VALIDATORS if any(raw(r, n) is not None for r in evals)]


def checkpoint_picks(records):
    """{validator: step} of the checkpoint each validator scores best over the run."""
    cands = core.candidates(evaluations(records))
    out = {}
    for name in VALIDATORS:
        hit = core.pick(cands, core.Rule(name))
        if hit:
            out[name] = cands[hit[0]]["step"]
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
        acc = core.target_acc(at[step]) if labelled and step in at else None
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
            finals.append((float(lam), run, evals[-1]))
    cands = [rec for _, _, rec in finals]
    out = []
    for name in VALIDATORS:
        hit = core.pick(cands, core.Rule(name))
        if not hit:
            out.append(Pick(name))
            continue
        lam, run, rec = finals[hit[0]]
        labelled = all(core.target_acc(r) is not None for r in cands)
        out.append(Pick(name, lam, run, raw(rec, name), core.target_acc(rec),
                        core.regret(cands, hit[:1]) if labelled else None))
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
