"""The reproduce table in the dashboard: finding the latest one, reading it, its figure, the page."""
import os

import pytest
from test_dashboard_app import app, charts, texts
from test_reproduce import _rows, _with_ablation

from dann_core.experiments.reproduce import summarize, write_tables
from dann_core.methods.modes import label
from dashboard.export.before_after import before_after_png
from dashboard.plots.results import results_figure
from dashboard.runs.tables import latest, read


def _write(d, rows=None):
    rows = rows or _rows()
    write_tables(summarize(rows), rows, str(d), "a note")
    return str(d)


def test_latest_is_the_newest_table(tmp_path):
    a, b, empty = _write(tmp_path / "a"), _write(tmp_path / "b"), str(tmp_path / "empty")
    os.makedirs(empty)
    os.utime(os.path.join(a, "reproduce.csv"), (1e9, 1e9))
    assert latest([empty, a, b]) == b
    os.utime(os.path.join(b, "reproduce.csv"), (5e8, 5e8))
    assert latest([empty, a, b]) == a
    assert latest([empty]) is None


def test_read_and_figure(tmp_path):
    summary, runs, md = read(_write(tmp_path))
    (s,) = summary
    assert s["pair"] == "mnist-mnistm" and s["seeds"] == 2 and s["dann_beats_so"] is True
    assert s["dann_mean"] == pytest.approx(0.82) and s["gap_closed"] == pytest.approx(0.75)
    assert len(runs) == 8
    assert {r["method"] for r in runs} == {"source_only", "subspace_alignment", "dann", "target_only"}
    assert md.startswith("| pair |") and "a note" in md
    fig = results_figure(summary)
    bars = {t.meta["method"]: t for t in fig.data}
    assert list(bars) == ["source_only", "subspace_alignment", "dann", "target_only"]
    assert bars["dann"].y[0] == pytest.approx(0.82) and bars["source_only"].error_y.array[0] == pytest.approx(0.02)
    assert [a.text for a in fig.layout.annotations] == ["gap closed 75%"]


def test_a_table_with_the_ablation_reads_and_draws_it(tmp_path):
    summary, runs, md = read(_write(tmp_path, _with_ablation()))
    assert summary[0]["dann_lambda0_mean"] == pytest.approx(0.55) and "DANN, λ = 0" in md
    bars = [t.meta["method"] for t in results_figure(summary).data]
    assert bars == ["source_only", "subspace_alignment", "dann", "dann_lambda0", "target_only"]


def test_read_rejects_what_is_not_a_table(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        read(str(tmp_path))
    (tmp_path / "reproduce.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="is not a reproduce table") as e:
        read(str(tmp_path))
    assert "\n" not in str(e.value)


def test_results_page_shows_the_latest_table(tmp_path, monkeypatch):
    monkeypatch.setenv("DANN_RESULTS_DIR", _write(tmp_path / "mine"))
    at = app("views/results.py")
    assert "0.820 ± 0.020" in texts(at.markdown) and "a note" in texts(at.markdown)
    (spec,) = charts(at)
    methods = ("source_only", "subspace_alignment", "dann", "target_only")
    assert [t["name"] for t in spec["data"]] == [label(m) for m in methods]
    assert "mine" in texts(at.caption)
    # a broken table newer than every other: one clear line, no traceback
    (tmp_path / "mine" / "reproduce.csv").write_text("not,a,table\n")
    at = app("views/results.py")
    assert not at.exception and "is not a reproduce table" in texts(at.error)


def test_before_after_figure_from_two_runs(tmp_path):
    import io
    import subprocess
    import sys

    import fixtures
    from PIL import Image
    runs = tmp_path / "res" / "runs"
    fixtures.make_run(str(runs / "mnist-mnistm-source_only-s0"), kind="image", mode="source_only", n_per_domain=40,
                      hidden=True, diagnostics=True)
    fixtures.make_run(str(runs / "mnist-mnistm-dann-s0"), kind="image", n_per_domain=40, seed=1, hidden=True,
                      diagnostics=True)
    png = before_after_png(str(runs / "mnist-mnistm-source_only-s0"), str(runs / "mnist-mnistm-dann-s0"),
                                   method="pca", size=300)
    im = Image.open(io.BytesIO(png))
    w, h = im.size
    assert w % 2 == 0 and w >= 600 and h >= 300  # two panels of one size, side by side
    for half in (im.crop((0, 0, w // 2, h)), im.crop((w // 2, 0, w, h))):  # each with both domains' colours
        cols = {c for _, c in half.convert("RGB").getcolors(w * h)}
        assert any(r < 80 and b > 150 for r, g, b in cols)  # source blue
        assert any(r > 200 and 90 < g < 160 and b < 80 for r, g, b in cols)  # target orange
    # the script: writes the file; a missing run is one line, exit 2
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = os.path.join(root, "scripts", "make_results_figure.py")
    out = tmp_path / "fig.png"
    p = subprocess.run([sys.executable, script, "--results", str(tmp_path / "res"), "--method", "pca",
                        "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    grid = Image.open(out).convert("L")
    gw, gh = grid.size
    assert gw >= 600 and gh >= 600 and gw % 2 == 0 and gh % 2 == 0  # two layers x (source-only | DANN)
    rows = [grid.crop((0, 0, gw, gh // 2)), grid.crop((0, gh // 2, gw, gh))]
    assert rows[0].tobytes() != rows[1].tobytes()  # the hidden layer's row is its own picture
    # a run written before the hidden layer was stored: one line, exit 2; its features alone draw
    old = tmp_path / "old" / "runs"
    for m, seed in (("source_only", 0), ("dann", 1)):
        fixtures.make_run(str(old / f"mnist-mnistm-{m}-s0"), kind="image", mode=m, n_per_domain=40, seed=seed)
    p = subprocess.run([sys.executable, script, "--results", str(tmp_path / "old"), "--method", "pca",
                        "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "classifier's hidden layer" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    p = subprocess.run([sys.executable, script, "--results", str(tmp_path / "old"), "--method", "pca",
                        "--layers", "features", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and Image.open(out).size[0] > Image.open(out).size[1]  # one row: side by side
    p = subprocess.run([sys.executable, script, "--results", str(tmp_path / "res"), "--seed", "7"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "no run at" in p.stderr and len(p.stderr.strip().splitlines()) == 1
