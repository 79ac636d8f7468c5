"""benchmarks/gpu_check.py in its CPU smoke mode: every row of the table comes out with figures,
so that the one command a GPU owner runs cannot rot on machines without a GPU. About 50 s of
CPU time (most of it eight Python processes importing torch): under a minute on two idle cores."""
import json
import math
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.server


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = ["step fp32 b16", "step fp32 b32", "step bf16 b16", "step bf16 b32", "other layout", "first checkpoint",
        "default run fp32", "default run bf16", "torchrun nproc 1", "reader following", "parallel runs",
        "moons run", "reproduce --seeds 1"]


def test_gpu_check_smoke_prints_every_row(tmp_path):
    out = tmp_path / "check.json"
    p = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "gpu_check.py"), "--smoke", "--json",
                        str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-3000:])
    lines = p.stdout.splitlines()
    assert lines[0].startswith("device    CPU only") and re.match(r"versions  torch \S+, CUDA \S+", lines[1])
    for key in ROWS:  # each row once, with a figure in it, and neither skipped nor failed
        row = [ln for ln in lines if ln.startswith(key + " ")]
        assert len(row) == 1 and re.search(r"\d", row[0][len(key):]), (key, p.stdout)
        assert "skipped" not in row[0] and "FAILED" not in row[0], row[0]
    rows = json.loads(out.read_text())["rows"]
    for key in ("step fp32 b16", "step bf16 b32"):
        assert all(rows[key][k] > 0 for k in ("bare", "bare_again", "trainer", "other_layout"))
        r = rows[key]
        assert math.isclose(r["ratio"], 2 * r["trainer"] / (r["bare"] + r["bare_again"]))
    assert 0 < rows["first checkpoint"]["ready_seconds"] <= rows["first checkpoint"]["seconds"]
    assert rows["default run fp32"]["seconds"] >= rows["default run fp32"]["trainer_seconds"] > 0
    assert 0 <= rows["default run bf16"]["target_acc"] <= 1
    assert rows["torchrun nproc 1"]["backend"] == "gloo"  # the DDP path, with one process
    assert rows["reader following"]["reader_calls"] >= 1 and rows["reader following"]["ratio"] > 0
    assert set(rows["parallel runs"]["runs_per_min"]) == {"1", "2"} and rows["parallel runs"]["fastest"] in (1, 2)
    assert rows["reproduce --seeds 1"]["seconds"] > 0
