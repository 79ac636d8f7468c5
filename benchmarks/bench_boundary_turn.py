"""Does moving λ in a "Steer λ yourself" run turn the decision boundary, and how soon?

    python benchmarks/bench_boundary_turn.py [--before 5] [--after 8] [--lambda 6] [--seed 0]

Starts the run Start here's "Steer λ yourself" starts (two moons, DANN until stopped, λ 0 by hand,
the live pace), waits for `before` checkpoints at λ = 0, then sets λ as a person's slider does
(control.json) and follows `after` more checkpoints. For each it prints, from the input plane the
checkpoint keeps (docs/stream.md): the share of the plane around the points whose predicted class
differs from the last checkpoint before the move (and, for scale, how much it changed between the
last two checkpoints at λ = 0), the share of target probe points that changed
side, and the target accuracy. No timing is asserted anywhere: these are figures to read.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from dann_core.rundir import files
from dann_core.rundir.control import write_control
from dann_core.rundir.reader import RunReader


def side(ck, x):
    """Each point's predicted class on the checkpoint's plane (the nearest grid cell)."""
    gx, gy, cp = (ck[files.PLANE[k]] for k in ("gx", "gy", "class_prob"))
    i = np.abs(gy[None, :] - x[:, 1:2]).argmin(1)
    j = np.abs(gx[None, :] - x[:, 0:1]).argmin(1)
    return cp.astype(np.float32).argmax(2)[i, j]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", type=int, default=5)
    ap.add_argument("--after", type=int, default=8)
    ap.add_argument("--lambda", dest="lam", type=float, default=6.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    runs = tempfile.mkdtemp()
    ctl = os.path.join(runs, "start.json")
    with open(ctl, "w") as f:
        json.dump({"lambda": 0.0}, f)
    # the dashboard's LIVE options (dashboard/runs/launcher.py)
    p = subprocess.Popen([sys.executable, "-m", "dann_core", "train", "--pair", "moons", "--until-stopped",
                          "--pace", "300", "--lr-schedule", "constant", "--ema", "0", "--lambda-schedule", "constant",
                          "--control", ctl, "--runs-dir", runs, "--run-name", "steer", "--threads", "1",
                          "--seed", str(a.seed), "--no-progress"], stdout=subprocess.DEVNULL)
    d = os.path.join(runs, "steer")
    r = RunReader(d)

    def wait(n):
        t0 = time.time()
        while len(r.checkpoint_steps()) < n and time.time() - t0 < 300:
            time.sleep(0.2)
        return r.checkpoint_steps()
    try:
        steps = wait(a.before)
        ref = r.load_checkpoint(steps[-1])
        x, dom = r.probe()["x"], r.probe()["domain"]
        write_control(d, lambda_=a.lam)
        moved = time.time()
        print(f"λ 0 → {a.lam:g} after step {steps[-1]}; target accuracy then "
              f"{next(m for m in reversed(r.metrics()) if m.get('eval'))['target_acc']:.3f}")
        ref_cls = ref[files.PLANE["class_prob"]].astype(np.float32).argmax(2)
        prev = r.load_checkpoint(steps[-2])[files.PLANE["class_prob"]].astype(np.float32).argmax(2)
        print(f"at λ = 0, one checkpoint to the next ({steps[-2]} → {steps[-1]}): plane changed "
              f"{np.mean(prev != ref_cls):.3f}")
        print("checkpoint  seconds after  plane changed  target points changed side  target acc")
        ref_side = side(ref, x[dom == 1])
        seen = len(steps)
        for _ in range(a.after):
            steps = wait(seen + 1)
            seen = len(steps)
            ck = r.load_checkpoint(steps[-1])
            cls = ck[files.PLANE["class_prob"]].astype(np.float32).argmax(2)
            rec = next(m for m in reversed(r.metrics()) if m.get("eval") and m["step"] == steps[-1])
            print(f"{steps[-1]:10d}  {time.time() - moved:13.1f}  {np.mean(cls != ref_cls):13.3f}  "
                  f"{np.mean(side(ck, x[dom == 1]) != ref_side):26.3f}  {rec['target_acc']:10.3f}  λ {rec['lambda']:g}")
        write_control(d, stop=True)
        p.wait(60)
    finally:
        p.kill()


if __name__ == "__main__":
    main()
