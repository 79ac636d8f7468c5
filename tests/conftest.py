import os
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
