"""SIGKILL the trainer at random moments: the reader never raises, the last checkpoint loads."""
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from dann_core.rundir.reader import RunReader

pytestmark = pytest.mark.server


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KILLS = int(os.environ.get("DANN_KILLS", "12"))  # CI size; docs/reliability.md: 50


def _read_everything(d):
    r = RunReader(d)
    for read in (r.manifest, r.status, r.metrics, r.probe, r.control):
        read()
    steps = r.checkpoint_steps()
    c = r.load_checkpoint()
    if steps:
        # the newest complete checkpoint loads: its probe arrays and its weights
        assert c is not None and c["step"] == steps[-1], r.warnings
        assert np.isfinite(c["features"]).all() and len(c["y"]) == len(c["features"])
        sd = torch.load(r.weights_path(c["step"]))
        assert "features.0.weight" in sd
    return len(steps)


def test_sigkill_at_random_moments(tmp_path):
    rng = random.Random(1234)
    runs = str(tmp_path / "runs")
    cmd = [sys.executable, "-m", "dann_core", "train", "--pair", "moons", "--runs-dir", runs, "--threads", "1",
           "--no-progress", "--ckpt-every", "3", "--log-every", "1", "--epochs", "1000"]
    with_ckpt = 0
    for i in range(KILLS):
        p = subprocess.Popen(cmd + ["--run-name", f"k{i}"], cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        d = os.path.join(runs, f"k{i}")
        # first wait until it writes (start-up costs vary), then kill at a random moment after
        t0 = time.time()
        while not os.path.exists(os.path.join(d, "status.json")) and time.time() - t0 < 60:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 1.5))
        p.send_signal(signal.SIGKILL)
        p.wait()
        with_ckpt += _read_everything(d) > 0
        assert RunReader(d).status().state in ("dead", "starting", "missing")
    assert with_ckpt >= KILLS // 2  # most kills landed while checkpoints were being written
