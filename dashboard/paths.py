"""Where the dashboard finds things: the checkout, the runs, the lecture demos, the result tables.
Each can be moved with an environment variable."""
import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(REPO_ROOT, "dashboard", "app.py")


def runs_dir():
    """$DANN_RUNS_DIR, else runs/ at the repository root."""
    return os.path.abspath(os.environ.get("DANN_RUNS_DIR") or os.path.join(REPO_ROOT, "runs"))


def demo_dir():
    """$DANN_DEMO_DIR, else assets/demo in the repository."""
    return os.path.abspath(os.environ.get("DANN_DEMO_DIR") or os.path.join(REPO_ROOT, "assets", "demo"))


def results_dirs():
    """Where reproduce tables are looked for: $DANN_RESULTS_DIR, results/ (the reproduce command's
    default --out) and the table measured for the README (docs/results/)."""
    env = os.environ.get("DANN_RESULTS_DIR")
    return ([env] if env else []) + [os.path.join(REPO_ROOT, "results"), os.path.join(REPO_ROOT, "docs", "results")]
