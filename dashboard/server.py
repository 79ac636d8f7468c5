"""Start and stop a `streamlit run dashboard/app.py` server (for the browser test and the benchmark)."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from .launcher import REPO_ROOT

APP = os.path.join(REPO_ROOT, "dashboard", "app.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(port=None, env=None, log_path=None):
    """Start the server on 127.0.0.1:`port` (a free one by default). Returns (proc, url)."""
    port = port or free_port()
    argv = [sys.executable, "-m", "streamlit", "run", APP, "--server.port", str(port),
            "--server.address", "127.0.0.1", "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    e = dict(os.environ, **(env or {}))
    e["PYTHONPATH"] = os.pathsep.join([REPO_ROOT] + [p for p in e.get("PYTHONPATH", "").split(os.pathsep) if p])
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=e, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)
    if log_path:
        out.close()
    return proc, f"http://127.0.0.1:{port}"


def wait_healthy(proc, url, timeout=60):
    """Wait until the server answers its health check; RuntimeError if it dies or times out."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode} before serving")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return time.time() - t0
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"streamlit did not answer on {url} within {timeout} s")


def stop(proc, timeout=10):
    """Stop the server (trainers it started run in their own sessions: stop those through
    their control files)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
        except ProcessLookupError:
            pass
