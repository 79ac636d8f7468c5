import multiprocessing.process
import os
import re
import subprocess
import time

import pytest

# UMAP's warm-up at app start (dashboard/plots/background.py) would compile numba code in every
# test's server; the test of the warm-up turns it back on
os.environ.setdefault("DANN_WARM_UMAP", "0")
# likewise the warm trainers a server keeps (dashboard/runs/launcher.py: ~10 CPU-seconds each to
# start, in every test's server); tests/test_warm_trainers.py turns them on
os.environ.setdefault("DANN_WARM_TRAINERS", "0")

from dann_core.rundir.control import write_control
from dann_core.rundir.reader import RunReader
from dashboard import server


@pytest.fixture(autouse=True, scope="session")
def _shared_cache(tmp_path_factory):
    # one pair cache for the whole session (building MNIST-M costs seconds), never the user's
    if not os.environ.get("DANN_CACHE"):
        os.environ["DANN_CACHE"] = str(tmp_path_factory.mktemp("dann-cache"))
    yield


# what a test must be marked `server` (or `browser`) to start: a server, a trainer, a browser, a
# benchmark script (they train); a plain CLI call (`dann control`, `--help`) is no trainer
SERVER_WORDS = ("streamlit run", "torch.distributed.run", "dann_core.warm", "benchmarks/", "playwright", "chromium")
TRAINER_RE = re.compile(r" (train|reproduce|sweep|validators)( |$)")


def starts_a_server(cmd):
    return any(w in cmd for w in SERVER_WORDS) or (bool(TRAINER_RE.search(cmd)) and "--help" not in cmd)


@pytest.fixture(autouse=True)
def _fast_lane_starts_no_process(request, monkeypatch):
    """An unmarked test that starts a server, a trainer or a browser fails at once, naming the
    marker it lacks: the fast lane stays fast and the markers stay true."""
    if request.node.get_closest_marker("server") or request.node.get_closest_marker("browser"):
        yield
        return
    real = subprocess.Popen.__init__

    def guarded(self, args, *a, **kw):
        cmd = " ".join(map(str, args)) if isinstance(args, (list, tuple)) else str(args)
        if starts_a_server(cmd):
            raise AssertionError(f"{request.node.nodeid} starts {cmd[:100]!r}: mark it server (or browser)")
        real(self, args, *a, **kw)

    def no_worker(self):  # multiprocessing's workers (jobs.run_many trains in them) start no Popen
        raise AssertionError(f"{request.node.nodeid} starts a worker process: mark it server")

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded)
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", no_worker)
    yield


@pytest.fixture
def runs_dir(tmp_path):
    d = tmp_path / "runs"
    d.mkdir()
    return str(d)


@pytest.fixture
def dashboard(tmp_path):
    """A real Streamlit server of the dashboard on a free port, with its own runs dir: (url, runs)."""
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    runs.mkdir()
    proc, url = server.start(env={"DANN_RUNS_DIR": str(runs), "DANN_CACHE": str(cache)},
                             log_path=str(tmp_path / "server.log"))
    try:
        server.wait_healthy(proc, url, timeout=60)
        yield url, str(runs)
    finally:
        server.stop(proc)
        for name in os.listdir(runs):  # trainers live in their own sessions: stop them too
            st = RunReader(os.path.join(runs, name)).status()
            if st.active and st.pid:
                write_control(os.path.join(runs, name), stop=True)
                time.sleep(1)
                try:
                    os.kill(st.pid, 9)
                except ProcessLookupError:
                    pass
