"""The disk fills up during a run: ENOSPC at a checkpoint's .pt, at its .npz, at a metrics line.

The run is marked failed with a one-line reason (no retry: docs/reliability.md), its temporary
file is removed, every earlier checkpoint still loads and the reader never raises. When the disk
stays full, status.json cannot say "failed" either: readers then see the run dead, and the
dashboard shows the trainer's last line (trainer.log) with it.

The disk is simulated (tests/full_disk.py): no small filesystem can be filled here. CI runs each
write at one position; DANN_DISKFULL_POSITIONS=1,2,3,5 runs more (docs/reliability.md).
"""
import glob
import os
import subprocess
import sys

import pytest
import torch
from full_disk import FullDisk

from dann_core.config import Config
from dann_core.rundir.reader import RunReader
from dann_core.rundir.writer import WriteFailed
from dann_core.train import train
from dashboard.runs import reading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POSITIONS = [int(p) for p in os.environ.get("DANN_DISKFULL_POSITIONS", "3").split(",")]
CKPT_EVERY, LOG_EVERY, STEPS = 20, 5, 100
FULL = "the disk is full (no space left on device)"


def _cfg(runs, name):
    return Config(pair="moons", runs_dir=runs, run_name=name, threads=1, max_steps=STEPS, ckpt_every=CKPT_EVERY,
                  log_every=LOG_EVERY, n_probe=100)


def _expected_failure(target, nth):
    """(the file whose write fails, the checkpoints complete before it)."""
    if target == "metrics":  # lines: the step-0 eval, then one every LOG_EVERY steps, an eval after every ckpt's
        lines = [0]
        for step in range(LOG_EVERY, STEPS + 1, LOG_EVERY):
            lines += [step] * (2 if step % CKPT_EVERY == 0 else 1)
        # the failing line comes before that step's checkpoint (an eval line is logged first)
        return "metrics.jsonl", list(range(0, lines[nth - 1], CKPT_EVERY))
    step = (nth - 1) * CKPT_EVERY
    return f"checkpoints/ckpt_{step:08d}.{target}", list(range(0, step, CKPT_EVERY))


def _check_run(run_dir, target, nth):
    """What must hold after the failure, whatever the disk did next."""
    failed_file, before = _expected_failure(target, nth)
    r = RunReader(run_dir)
    r.manifest(), r.status(), r.metrics(), r.probe(), r.control()  # never raises
    assert r.checkpoint_steps() == before
    for s in before:  # every earlier checkpoint loads: features and weights
        ck = r.load_checkpoint(s)
        assert ck is not None and ck["features"].shape == (200, ck["features"].shape[1]), r.warnings
        assert "features.0.weight" in torch.load(r.weights_path(s), weights_only=True)
    weights = sorted(os.path.basename(p) for p in glob.glob(os.path.join(run_dir, "checkpoints", "*.pt")))
    assert weights == [f"ckpt_{s:08d}.pt" for s in before]  # no orphan .pt of the failed checkpoint
    assert glob.glob(os.path.join(run_dir, "**", "*.tmp*"), recursive=True) == []  # the space given back
    recs = r.metrics()
    assert all(isinstance(m, dict) for m in recs) and not r.warnings, r.warnings
    return f"cannot write {failed_file}: {FULL}", recs


@pytest.mark.parametrize("nth", POSITIONS)
@pytest.mark.parametrize("target", ["pt", "npz", "metrics"])
def test_a_full_disk_fails_the_run_with_one_line(tmp_path, monkeypatch, target, nth):
    runs = str(tmp_path / "runs")
    disk = FullDisk(target, nth).install(monkeypatch)
    with pytest.raises(WriteFailed) as e:
        train(_cfg(runs, "full"))
    run_dir = os.path.join(runs, "full")
    why, recs = _check_run(run_dir, target, nth)
    assert str(e.value) == why and disk.failed
    st = RunReader(run_dir).status()
    assert st.state == "failed" and st.error == why and "\n" not in why
    snap = reading.snapshot(run_dir)
    assert reading.status_message("full", snap.manifest, snap.status) == ("error", f"full: the run failed at step "
                                                                                   f"{st.step}/{STEPS}: {why}")
    if target == "metrics":  # the line that did not fit is torn: skipped, and nothing after it
        with open(os.path.join(run_dir, "metrics.jsonl"), "rb") as f:
            assert not f.read().endswith(b"\n")
        assert len(recs) == nth - 1


DISK_STAYS_FULL = [("pt", POSITIONS[0])] if len(POSITIONS) == 1 else [(t, n) for t in ("pt", "npz", "metrics")
                                                                        for n in POSITIONS]


@pytest.mark.server
@pytest.mark.parametrize("target,nth", DISK_STAYS_FULL)
def test_a_disk_that_stays_full_leaves_a_dead_run_and_the_trainer_s_last_line(tmp_path, target, nth):
    runs = tmp_path / "runs"
    run_dir = runs / "full"
    run_dir.mkdir(parents=True)
    with open(run_dir / "trainer.log", "wb") as log:  # as the dashboard's launcher starts a trainer
        rc = subprocess.call([sys.executable, os.path.join(ROOT, "tests", "full_disk.py"), target, str(nth),
                              "--stays-full", "--", "train", "--pair", "moons", "--runs-dir", str(runs), "--run-name",
                              "full", "--threads", "1", "--max-steps", str(STEPS), "--ckpt-every", str(CKPT_EVERY),
                              "--log-every", str(LOG_EVERY), "--n-probe", "100", "--no-progress"],
                             cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, timeout=300)
    assert rc == 1
    why, _ = _check_run(str(run_dir), target, nth)
    log = (run_dir / "trainer.log").read_text().strip().splitlines()
    assert log[-1] == f"dann: error: run failed: {why}"
    st = RunReader(str(run_dir)).status()
    assert st.state == "dead"  # status.json still says running: the disk refused "failed" too
    assert reading.snapshot(str(run_dir)).warnings == [f"trainer log: dann: error: run failed: {why}"]
