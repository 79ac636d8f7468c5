"""Pick a mode's setting among finished runs without target labels, as `dann sweep` picks λ.

    python scripts/settings_grid.py --rule im RUN_DIR...

Each run is one setting of the grid (their manifests say which). The pick compares the runs' last
checkpoints by a label-free rule of dann_core.experiments.selection (default: the sweep's, `im`).
Printed: a markdown table with every run's validators at its last checkpoint, each rule's pick, and
the target accuracy, which is read only to score the picks (regret), never to make them.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dann_core.experiments import selection  # noqa: E402
from dann_core.experiments.sweep import DEFAULT_RULE, rules  # noqa: E402
from dann_core.rundir.reader import RunReader  # noqa: E402

SETTINGS = ("mode", "augment", "confidence", "consistency", "class_balance", "noise", "im_weight", "im_start",
            "lambda_max", "ema")


def table(run_dirs, rule=DEFAULT_RULE):
    """(markdown lines, the picked run's directory)."""
    runs = [list(RunReader(d).metrics()) for d in run_dirs]
    finals = [selection.final(r) for r in runs]
    configs = [RunReader(d).manifest()["config"] for d in run_dirs]
    varied = [k for k in SETTINGS if len({repr(c.get(k)) for c in configs}) > 1] or ["mode"]
    names = list(selection.VALIDATORS)
    lines = ["| run | " + " | ".join(varied) + " | " + " | ".join(f"`{n}`" for n in names) + " | target acc |",
             "|" + " --- |" * (len(varied) + len(names) + 2)]
    for d, c, f in zip(run_dirs, configs, finals):
        v = f.get("validators") or {}
        lines.append(f"| {os.path.basename(d)} | " + " | ".join(str(c.get(k)) for k in varied) + " | "
                     + " | ".join("–" if v.get(n) is None else f"{v[n]:.3f}" for n in names)
                     + f" | {f.get('target_acc', float('nan')):.3f} |")
    lines += ["", "| rule | pick | regret (target acc of the best run − the pick's) |", "| --- | --- | --- |"]
    picked = None
    for name, r in rules().items():
        if r.validator == selection.REVERSE:
            continue
        idx = selection.lambda_pick(runs, r)
        reg = selection.regret(finals, idx)
        shown = ", ".join(os.path.basename(run_dirs[i]) for i in idx) or "–"
        lines.append(f"| `{name}`{' (the rule used)' if name == rule else ''} | {shown} | "
                     f"{'–' if reg is None else f'{reg:.3f}'} |")
        if name == rule and idx:
            picked = run_dirs[idx[0]]
    return lines, picked


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="finished run directories, one per setting")
    ap.add_argument("--rule", default=DEFAULT_RULE, help=f"a label-free rule (default: {DEFAULT_RULE})")
    a = ap.parse_args(argv)
    if a.rule not in rules():
        sys.exit(f"error: unknown rule {a.rule!r} (known: {', '.join(rules())})")
    missing = [d for d in a.runs if not os.path.isfile(os.path.join(d, "manifest.json"))]
    if missing:
        sys.exit(f"error: {missing[0]} is no run directory (no manifest.json)")
    lines, picked = table(a.runs, a.rule)
    print("\n".join(lines))
    print(f"\npicked by `{a.rule}`: {picked}")


if __name__ == "__main__":
    main()
