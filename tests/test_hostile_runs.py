"""A hostile run directory someone copied in: a .pt holding a pickle payload, an .npz with object
arrays, a 2 GB metrics line, times in the future, symlinks out of the runs dir, FIFOs.

In each case the reader and the dashboard neither execute, follow nor hang: they show one line
about it, and the other runs stay usable. (DANN_HOSTILE_GB sets the size of the long line: 2 by
default here, sparse, so it costs no disk; reading it through costs ~6 s of CPU.)
"""
import json
import os
import pickle
import socket
import time
import tracemalloc

import fixtures
import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from test_dashboard_app import charts

from dann_core.data.pairs import get_spec
from dann_core.eval.inference import load_run_model
from dann_core.nn.models import build_model
from dann_core.rundir import files
from dann_core.rundir.reader import MAX_LINE, MAX_WEIGHTS, READ_BUDGET, RunReader, list_runs, refused_entries
from dann_core.rundir.safe_read import Refused
from dashboard.runs import launcher

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(ROOT, "dashboard", "app.py")
GB = float(os.environ.get("DANN_HOSTILE_GB", "2"))
FUTURE = time.time() + 10 * 365 * 86400


class Payload:
    """Unpickling it creates a marker file: proof that something executed a pickle."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _good(root, name, seed=0):
    return fixtures.make_run(os.path.join(root, name), steps=(0, 100, 200), seed=seed)


def _loadable(d):
    """A fixture run whose manifest names a real network (moons'), so that load_run_model can build it."""
    with open(os.path.join(d, "manifest.json")) as f:
        man = json.load(f)
    man.update(model=get_spec("moons").defaults["model"], input_shape=[2], n_classes=2)
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(man, f)
    return d


def _make_hostile(root, outside, marker):
    """{case: run name} in `root`, each broken in one way; plus two good runs."""
    cases = {}
    # created first: by its ctime the oldest, whatever its mtime says
    d = _good(root, "future-mtime")
    os.utime(os.path.join(d, "manifest.json"), (FUTURE, FUTURE))
    cases["manifest mtime 10 years ahead"] = "future-mtime"

    d = _good(root, "future-updated")
    with open(os.path.join(d, "status.json"), "w") as f:
        json.dump({"state": "running", "pid": os.getpid(), "host": socket.gethostname(), "updated": FUTURE,
                   "step": 200, "progress": 1.0}, f)
    cases["status 'updated' 10 years ahead, naming a live pid"] = "future-updated"

    d = _loadable(_good(root, "pickle-pt"))
    torch.save({"features.0.weight": Payload(marker)}, os.path.join(d, "checkpoints", "ckpt_00000200.pt"))
    cases[".pt holding a pickle payload"] = "pickle-pt"

    d = _good(root, "object-npz")
    np.savez(os.path.join(d, "checkpoints", "ckpt_00000200.npz"), step=np.int64(200),
             features=np.array([Payload(marker)] * 4, dtype=object), y=np.zeros(4, int), domain=np.zeros(4, int))
    cases["checkpoint .npz with an object array (pickle payload)"] = "object-npz"

    d = _good(root, "object-probe")
    np.savez(os.path.join(d, "probe.npz"), x=np.array([Payload(marker)], dtype=object), y=np.zeros(1, int))
    cases["probe.npz with an object array (pickle payload)"] = "object-probe"

    d = _good(root, "huge-line")
    path = os.path.join(d, "metrics.jsonl")
    with open(path, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    with open(path, "wb") as f:
        f.writelines(lines[:10])
        f.write(b'{"step": 1, "junk": "')
        f.truncate(f.tell() + int(GB * (1 << 30)))  # sparse: no disk used
        f.seek(0, os.SEEK_END)
        f.write(b'"}\n')
        f.writelines(lines[10:])
    cases[f"a {GB:g} GB metrics line"] = "huge-line"

    real = fixtures.make_run(os.path.join(outside, "real-run"), steps=(0, 100, 200))
    os.symlink(real, os.path.join(root, "linked-out"))
    cases["run directory: a symlink out of the runs dir"] = "linked-out"

    d = _good(root, "link-ckpt")
    os.replace(os.path.join(d, "checkpoints", "ckpt_00000200.npz"), os.path.join(outside, "stolen.npz"))
    os.symlink(os.path.join(outside, "stolen.npz"), os.path.join(d, "checkpoints", "ckpt_00000200.npz"))
    os.makedirs(os.path.join(outside, "proj"))
    os.symlink(os.path.join(outside, "proj"), os.path.join(d, "projections"))
    cases["checkpoint and projections/: symlinks out"] = "link-ckpt"

    d = _good(root, "link-metrics")
    os.remove(os.path.join(d, "metrics.jsonl"))
    os.symlink("/dev/zero", os.path.join(d, "metrics.jsonl"))
    cases["metrics.jsonl: a symlink to /dev/zero"] = "link-metrics"

    d = _good(root, "fifo-status")
    os.remove(os.path.join(d, "status.json"))
    os.mkfifo(os.path.join(d, "status.json"))
    cases["status.json: a FIFO"] = "fifo-status"

    d = _good(root, "fifo-control")
    os.mkfifo(os.path.join(d, "control.json"))
    cases["control.json: a FIFO"] = "fifo-control"

    _good(root, "good-a", seed=1)
    _good(root, "good-b", seed=2)
    return cases


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    root, outside, marker = base / "runs", base / "outside", str(base / "EXECUTED")
    root.mkdir()
    outside.mkdir()
    cases = _make_hostile(str(root), str(outside), marker)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DANN_RUNS_DIR", str(root))
        mp.setenv("DANN_CACHE", str(base / "cache"))
        yield str(root), str(outside), marker, cases
    assert not os.path.exists(marker), "a pickle payload was executed"


def _read_all(run_dir, calls=1):
    r = RunReader(run_dir)
    for _ in range(calls):
        r.manifest(), r.status(), r.metrics(), r.checkpoint_steps(), r.load_checkpoint(), r.probe(), r.control()
    return r


def _good_run_intact(root, name):
    r = _read_all(os.path.join(root, name))
    assert r.status().state == "finished" and r.load_checkpoint()["step"] == 200 and not r.warnings, r.warnings
    assert len(r.metrics()) == 23


# ----------------------------------------------------------------------------- the reader

def test_reader_lists_only_real_run_directories_and_says_what_it_refused(hostile):
    root, _, _, cases = hostile
    names = list_runs(root)
    assert set(names) == set(cases.values()) - {"linked-out"} | {"good-a", "good-b"}
    # the future mtime does not pin its run to the top: it counts as when it arrived (first)
    assert names[-1] == "future-mtime"
    assert refused_entries(root) == ["linked-out: a symlink, not followed"]


# what the reader says about each case: exactly these warnings (one line), the state it reports
READER = {
    "future-mtime": (["manifest.json is dated 3650 days in the future (copied in?): listed as of when it arrived"],
                     "finished"),
    "future-updated": (["status.json is dated 3650 days in the future (another machine's clock, or copied in)"],
                       "running"),  # its pid is alive, and no start time says otherwise
    "pickle-pt": ([], "finished"),  # the reader never opens a .pt
    "object-npz": (["checkpoint 200 is unreadable (Object arrays cannot be loaded when allow_pickle=False); "
                    "skipped"], "finished"),
    "object-probe": (["probe.npz is unreadable (Object arrays cannot be loaded when allow_pickle=False)"],
                     "finished"),
    "huge-line": (["metrics.jsonl has a line over 4 MB (skipped)"], "finished"),
    "linked-out": (["linked-out: the run directory is a symlink (not followed)"], "missing"),
    "link-ckpt": (["checkpoint 200 is unreadable (ckpt_00000200.npz is a symlink (not followed)); skipped"],
                  "finished"),
    "link-metrics": (["metrics.jsonl is unreadable: metrics.jsonl is a symlink (not followed)"], "finished"),
    "fifo-status": ([], "corrupt"),  # the status says it: "status.json is unreadable: ... not a regular file"
    "fifo-control": (["control.json is not a regular file (not read)"], "finished"),
}


@pytest.mark.parametrize("name", list(READER))
def test_reader_says_one_line_and_never_raises(hostile, name):
    root, _, marker, _ = hostile
    size = os.path.getsize(os.path.join(root, name, "metrics.jsonl")) if name == "huge-line" else 0
    r = _read_all(os.path.join(root, name), calls=size // READ_BUDGET + 2)
    warnings, state = READER[name]
    assert r.warnings == warnings
    assert r.status().state == state
    if name == "fifo-status":
        assert r.status().error == "status.json is unreadable: status.json is not a regular file (not read)"
    if name not in ("linked-out", "link-metrics"):
        good = RunReader(os.path.join(root, "good-a")).metrics()
        assert [m["step"] for m in r.metrics()] == [m["step"] for m in good]
    if name != "linked-out":
        assert r.load_checkpoint()["step"] == (100 if name in ("object-npz", "link-ckpt") else 200)
    for good in ("good-a", "good-b"):
        _good_run_intact(root, good)
    assert not os.path.exists(marker)


def test_pickles_are_refused_where_weights_are_loaded(hostile):
    root, _, marker, _ = hostile
    # the reader never opens a .pt; what does (reproduce, scripts) refuses the pickle in one exception
    with pytest.raises(pickle.UnpicklingError):
        load_run_model(os.path.join(root, "pickle-pt"), 200)
    assert not os.path.exists(marker)


def test_weights_are_loaded_through_the_readers_guards(tmp_path):
    """load_run_model opens a .pt only as the reader opens files: a symlinked .pt, a symlinked
    checkpoints/ directory and an oversized .pt are refused in one line, without falling back
    to another checkpoint; the same weights in a regular file load."""
    root, outside = tmp_path / "runs", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    net = build_model(get_spec("moons").defaults["model"], [2], 2)
    sd = {k: torch.full_like(v, 0.5) if v.is_floating_point() else v for k, v in net.state_dict().items()}

    d = _loadable(_good(str(root), "plain"))
    torch.save(sd, files.ckpt_weights(d, 200))
    loaded, man = load_run_model(d)
    assert man["model"] == get_spec("moons").defaults["model"]
    assert all(torch.equal(v, sd[k]) for k, v in loaded.state_dict().items())

    d = _loadable(_good(str(root), "link-pt"))
    torch.save(sd, outside / "real.pt")
    os.symlink(outside / "real.pt", files.ckpt_weights(d, 200))
    torch.save(sd, files.ckpt_weights(d, 100))  # an older checkpoint is there, and not taken instead
    assert RunReader(d).weight_steps() == [100, 200]
    for step in (None, 200):
        with pytest.raises(Refused, match=r"^ckpt_00000200\.pt is a symlink \(not followed\)$"):
            load_run_model(d, step)

    d = _loadable(_good(str(root), "link-dir"))
    torch.save(sd, files.ckpt_weights(d, 200))
    os.replace(files.checkpoints(d), outside / "ck")
    os.symlink(outside / "ck", files.checkpoints(d))
    with pytest.raises(Refused, match=r"^link-dir: checkpoints/ is a symlink \(not followed\)$"):
        load_run_model(d, 200)
    assert RunReader(d).weight_steps() == []  # and the reader lists none there

    d = _loadable(_good(str(root), "huge-pt"))
    with open(files.ckpt_weights(d, 200), "wb") as f:
        f.truncate(MAX_WEIGHTS + 1)  # sparse: no disk used
    with pytest.raises(Refused, match=r"^ckpt_00000200\.pt is larger than 2 GB \(not read\)$"):
        load_run_model(d)


def test_a_huge_metrics_line_is_skipped_in_bounded_reads(hostile):
    root, _, _, _ = hostile
    r = RunReader(os.path.join(root, "huge-line"))
    size = os.path.getsize(os.path.join(root, "huge-line", "metrics.jsonl"))
    calls, peak = 0, 0
    tracemalloc.start()
    try:
        while calls < size // READ_BUDGET + 3:
            tracemalloc.reset_peak()
            recs = r.metrics()
            peak = max(peak, tracemalloc.get_traced_memory()[1])
            calls += 1
            if len(recs) == 23:
                break
    finally:
        tracemalloc.stop()
    # every call reads at most READ_BUDGET bytes and holds at most ~2 lines' worth in memory
    assert calls >= size // READ_BUDGET
    assert peak < 3 * (MAX_LINE + (1 << 20)), peak
    assert r.warnings == ["metrics.jsonl has a line over 4 MB (skipped)"]


def test_a_copied_in_status_naming_a_live_pid_is_no_live_trainer(hostile):
    root, _, _, _ = hostile
    assert RunReader(os.path.join(root, "future-updated")).status().state == "running"
    assert launcher.live_trainers(root) == []  # it does not count against the trainer limit
    assert not launcher.is_ours("future-updated", root)  # and cannot be force-stopped (it names pytest)


# ----------------------------------------------------------------------------- the pages

def _page(page="views/train.py", **state):
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    at.switch_page(page)  # the app opens on Start here
    at.run()
    return at


def _lines(at):
    return [str(e.value) for kind in ("warning", "error", "info") for e in at.get(kind)]


# the words of the one line each page shows about the case (None: nothing to say, the page
# never reads the file); the symlinked run is named by the runs caption of every page instead
PROBLEM = {"future-mtime": "in the future", "future-updated": "in the future", "pickle-pt": None,
           "object-npz": "allow_pickle=False", "object-probe": "allow_pickle=False", "huge-line": "over 4 MB",
           "link-ckpt": "symlink", "link-metrics": "symlink", "fifo-status": "not a regular file",
           "fifo-control": "not a regular file"}


@pytest.mark.parametrize("name", list(PROBLEM))
def test_train_page_follows_a_hostile_run_beside_a_good_one(hostile, name):
    root, outside, marker, _ = hostile
    t0 = time.time()
    at = _page(follow_sel=[name, "good-a"])
    assert time.time() - t0 < 60  # no hang (a FIFO or /dev/zero would block forever)
    assert not at.exception, [e.value for e in at.exception]
    lines = _lines(at)
    if PROBLEM[name]:
        about = [t for t in lines if PROBLEM[name] in t]
        assert len(about) == 1, lines  # the problem, said once
    assert len(lines) == len(about) if PROBLEM[name] else not lines, lines
    assert not [t for t in lines if "good-a" in t], lines
    # the good run beside it: its curves and its embedding are drawn
    specs = charts(at)
    assert sum(any(t.get("name") == "label loss" for t in s["data"]) for s in specs) >= 1
    assert any("PCA · step" in str((s.get("layout", {}).get("title") or {}).get("text")) for s in specs)  # embedding
    assert os.listdir(os.path.join(outside, "proj")) == []  # nothing written through a symlink
    assert not os.path.exists(marker)


def test_every_page_names_the_symlink_it_did_not_follow(hostile):
    root, outside, marker, _ = hostile
    for page in ("views/train.py", "views/embeddings.py", "views/compare.py"):
        at = _page(page, emb_run="link-ckpt")
        assert not at.exception, [e.value for e in at.exception]
        caps = " | ".join(str(c.value) for c in at.caption)
        assert "Not read: linked-out: a symlink, not followed" in caps
    assert os.listdir(os.path.join(outside, "proj")) == []
    assert not os.path.exists(marker)
