"""Projections: correctness, warm-start consistency (measured), disk cache, bounded threads."""
import os
import time

import fixtures
import numpy as np
import pytest

from dashboard.plots import projections
from dashboard.plots.tsne import tsne


def blobs(n_per=60, k=3, dim=12, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.normal(0, 6, (k, dim))
    y = np.repeat(np.arange(k), n_per)
    return (c[y] + rng.normal(0, 1, (len(y), dim))).astype(np.float32), y


def knn_accuracy(y2, labels, k=5):
    d = ((y2[:, None] - y2[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, 1)[:, :k]
    return float(np.mean([np.bincount(labels[row]).argmax() == lab for row, lab in zip(nn, labels)]))


@pytest.mark.parametrize("method", ["pca", "tsne", "umap"])
def test_projection_keeps_clusters(method):
    x, y = blobs()
    out = projections.compute(x, method)
    assert out.shape == (len(x), 2) and out.dtype == np.float32 and np.all(np.isfinite(out))
    assert knn_accuracy(out, y) > 0.95


def test_tsne_quality_and_convergence():
    """Neighbourhoods are kept (trustworthiness, as sklearn measures it), and the optimisation
    converges: the full schedule ends with a lower KL divergence than a truncated one."""
    from sklearn.manifold import trustworthiness

    x, _ = blobs(n_per=100, k=4, dim=20, seed=3)
    y, kl = tsne(x, return_kl=True)
    _, kl_short = tsne(x, n_iter=260, return_kl=True)
    assert trustworthiness(x, y, n_neighbors=10) > 0.95
    assert 0 < kl < kl_short


def test_bad_inputs_get_one_line_errors():
    x, _ = blobs()
    with pytest.raises(projections.ProjectionError, match="unknown projection"):
        projections.compute(x, "mds")
    with pytest.raises(projections.ProjectionError, match="N >= 5"):
        projections.compute(x[:3], "pca")
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(projections.ProjectionError, match="NaN"):
        projections.compute(bad, "tsne")
    # an init for other points is ignored, not an error
    assert projections.compute(x, "pca", init=np.zeros((7, 2))).shape == (len(x), 2)


def test_procrustes_undoes_rotation_and_reflection():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(50, 2))
    th = 1.1
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]) @ np.diag([1, -1])
    b = a @ rot + 5.0
    np.testing.assert_allclose(projections.procrustes_align(b, a), a - a.mean(0), atol=1e-9)


@pytest.mark.parametrize("method", ["tsne", "pca"])
def test_warm_start_moves_points_less_than_independent_layouts(method):
    """The consistency claim, measured: along a drifting sequence of checkpoints, warm-started
    layouts move each point much less than independent layouts; for t-SNE also less than
    independent layouts rotated onto each other afterwards (PCA's warm start *is* that alignment)."""
    seq = [fixtures.features_at(t, 90, seed=2)[0] for t in np.linspace(0, 1, 5)]
    warm, prev = [], None
    for f in seq:
        prev = projections.compute(f, method, init=prev)
        warm.append(prev)
    indep = [projections.compute(f, method) for f in seq]
    aligned = [indep[0]]
    for y in indep[1:]:
        aligned.append(projections.procrustes_align(y, aligned[-1]))
    d_warm, d_indep, d_aligned = map(projections.mean_displacement, (warm, indep, aligned))
    assert d_warm < 0.5 * d_indep, (d_warm, d_indep)
    if method == "tsne":
        assert d_warm < 0.75 * d_aligned, (d_warm, d_aligned)


def test_layout_is_computed_once_then_read_from_disk(tmp_path, monkeypatch):
    run = fixtures.make_run(str(tmp_path / "r"), steps=(0, 50, 100))
    f = fixtures.features_at(0.5, 60)[0]
    y1, info1 = projections.layout(run, 50, "tsne", f)
    assert not info1["cached"] and info1["saved"]
    path = os.path.join(run, "projections", "tsne_00000050.npz")
    assert os.path.isfile(path)

    def not_again(*a, **kw):
        raise AssertionError("a cached layout was computed again")
    monkeypatch.setattr(projections, "compute", not_again)
    y2, info2 = projections.layout(run, 50, "tsne", f)
    assert info2["cached"]
    monkeypatch.undo()
    np.testing.assert_array_equal(y1, y2)
    assert not [n for n in os.listdir(os.path.dirname(path)) if ".tmp" in n]  # atomic: no leftovers
    # the next checkpoint warm-starts from the nearest earlier cached layout
    _, info3 = projections.layout(run, 100, "tsne", fixtures.features_at(1.0, 60)[0])
    assert info3["init_step"] == 50
    assert projections.cached_steps(run, "tsne") == [50, 100]


def test_corrupt_or_stale_cache_is_recomputed(tmp_path):
    run = fixtures.make_run(str(tmp_path / "r"), steps=(0,))
    f = fixtures.features_at(0, 60)[0]
    path = projections.cache_path(run, "pca", 0)
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as fh:
        fh.write(b"not an npz")
    y, info = projections.layout(run, 0, "pca", f)
    assert not info["cached"] and y.shape == (120, 2)
    assert projections.load_cached(run, "pca", 0) is not None
    assert projections.load_cached(run, "pca", 0, n=7) is None  # a layout of other points is not served


def test_unwritable_cache_still_returns_a_layout(tmp_path):
    run = fixtures.make_run(str(tmp_path / "r"), steps=(0,))
    with open(os.path.join(run, "projections"), "w") as fh:  # a file where the folder should go
        fh.write("x")
    y, info = projections.layout(run, 0, "pca", fixtures.features_at(0, 60)[0])
    assert y.shape == (120, 2) and info["saved"] is False


def test_chain_warm_starts_in_order(tmp_path):
    run = fixtures.make_run(str(tmp_path / "r"), steps=(0, 100, 200))
    from dashboard.runs import reading
    seen = []
    out = projections.chain(run, [200, 0, 100], "pca", lambda s: reading.features(run, s),
                            progress=lambda i, n: seen.append(i))
    assert sorted(out) == [0, 100, 200] and seen == [1, 2, 3]
    with np.load(projections.cache_path(run, "pca", 200)) as z:
        assert int(z["init_step"]) == 100


def test_projection_threads_are_bounded(monkeypatch):
    """Projections run on one BLAS/OpenMP thread by default, so they cannot starve a trainer."""
    from threadpoolctl import threadpool_info
    seen = []
    real = projections.pca2

    def spy(x):
        seen.extend(p["num_threads"] for p in threadpool_info())
        return real(x)
    monkeypatch.setattr(projections, "pca2", spy)
    projections.compute(blobs()[0], "pca")
    assert projections.PROJECTION_THREADS == 1 and seen and max(seen) == 1
    assert os.environ.get("NUMBA_NUM_THREADS") == "1"


def test_umap_is_imported_only_when_asked_for():
    import subprocess
    import sys
    code = ("import sys, numpy as np; from dashboard.plots import projections; "
            "projections.compute(np.random.default_rng(0).normal(size=(40, 5)), 'tsne'); "
            "projections.compute(np.random.default_rng(0).normal(size=(40, 5)), 'pca'); "
            "print('umap' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.stdout.split() == ["False", "False"], out.stderr[-500:]


def test_background_layouts_answer_at_once_and_drop_stale_requests(tmp_path, monkeypatch):
    """A page asking for a slow layout gets None at once (it draws PCA meanwhile); the worker
    computes only the newest request per (run, method): a slider dragged over three checkpoints
    while the worker is busy costs one more layout, not three."""
    import threading

    from dashboard.plots import background
    from dashboard.runs import reading
    run = fixtures.make_run(str(tmp_path / "r"), steps=(0, 100, 200, 300))
    gate, computed, real = threading.Event(), [], projections.layout

    def slow(run_dir, step, method, features, **kw):
        computed.append(step)
        gate.wait(60)
        return real(run_dir, step, method, features, **kw)
    monkeypatch.setattr(projections, "layout", slow)
    load = lambda s: reading.features(run, s)

    def wait_for(cond, timeout=60):
        t0 = time.time()
        while not cond() and time.time() - t0 < timeout:
            time.sleep(0.05)
        return cond()
    assert background.layout(run, 0, "tsne", load) is None        # not on disk: None, at once
    assert wait_for(lambda: computed == [0])                       # the worker took it
    for s in (100, 200, 300):                                      # three asks while it is busy
        assert background.layout(run, s, "tsne", load) is None
    gate.set()
    assert wait_for(lambda: projections.load_cached(run, "tsne", 300) is not None)
    assert computed == [0, 300]                                    # 100 and 200 were never computed
    assert background.layout(run, 300, "tsne", load) is not None   # on disk now: returned


def test_umap_warm_up_gets_ready():
    from dashboard.plots import background
    background.warm_umap()
    t0 = time.time()
    while background.umap_state() == "warming" and time.time() - t0 < 300:
        time.sleep(0.5)
    assert background.umap_state() == "ready"
    # and what it compiled is kept on disk by numba: the next server's first UMAP skips the
    # compilation (21 s measured here), umap-learn caching only one function of its own
    import umap.layouts
    import umap.umap_
    for f in (umap.layouts._nb_optimize_layout_euclidean_single_epoch, umap.umap_.smooth_knn_dist,
              umap.umap_.compute_membership_strengths):
        assert type(f._cache).__name__ == "FunctionCache", f
