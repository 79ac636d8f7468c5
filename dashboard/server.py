"""Start and stop a `streamlit run dashboard/app.py` server (for the browser test and the benchmark)."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from dashboard.paths import APP
from dashboard.runs.launcher import spawn, stop_group


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(port=None, env=None, log_path=None, app=APP):
    """Start the server of `app` (the dashboard by default) on 127.0.0.1:`port` (a free one by
    default). Returns (proc, url)."""
    port = port or free_port()
    argv = [sys.executable, "-m", "streamlit", "run", app, "--server.port", str(port),
            "--server.address", "127.0.0.1", "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL
    try:
        # at the priority a person's `streamlit run` has: its trainers then run niced below it
        proc = spawn(argv, out, dict(os.environ, **(env or {})), niceness=0)
    finally:
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
    stop_group(proc, timeout, signal.SIGTERM)
