"""The package's stages as folders, and the one-way flow: what the dashboard reads imports no torch."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# every module of the run directory's package, and the dashboard's modules that are not pages
READ_SIDE = """
import importlib, pkgutil, sys
names = []
for pkg in ("dann_core.rundir", "dashboard.runs", "dashboard.plots", "dashboard.export", "dashboard.lecture"):
    names += [f"{pkg}.{m.name}" for m in pkgutil.iter_modules(importlib.import_module(pkg).__path__)]
for name in names + ["dashboard.widgets", "dashboard.state", "dashboard.paths", "dashboard.server"]:
    importlib.import_module(name)
    if "torch" in sys.modules:
        print("torch imported by", name)
        break
print(len(names), "torch" in sys.modules)
"""


def test_the_read_side_imports_no_torch():
    out = subprocess.run([sys.executable, "-c", READ_SIDE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    n, torch_in = out.stdout.split()[-2:]
    assert torch_in == "False", out.stdout
    assert int(n) >= 30  # the packages were found and walked, not skipped


def test_the_core_is_in_stage_folders():
    core = os.path.join(ROOT, "dann_core")
    top = sorted(f for f in os.listdir(core) if f.endswith(".py"))
    # the loop and what sets it up stay at the top; every other module lives in its stage
    assert top == ["__init__.py", "__main__.py", "cli.py", "config.py", "device.py", "train.py", "warm.py"]
    stages = {d for d in os.listdir(core) if os.path.isfile(os.path.join(core, d, "__init__.py"))}
    assert stages == {"nn", "methods", "data", "eval", "rundir", "experiments"}


def test_the_training_loop_reads_in_one_screen():
    import ast
    tree = ast.parse(open(os.path.join(ROOT, "dann_core", "train.py")).read())
    (train,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "train"]
    assert train.end_lineno - train.lineno + 1 <= 100  # its pieces are named beside it
