"""2-D projections of probe features (PCA, t-SNE, UMAP): pure compute plus an on-disk cache.

Each projection is computed once per (run, checkpoint, method, layer) and stored atomically as
RUN/projections/<method>_<step:08d>.npz (layer "features", the name older caches have) or
<method>-<layer>_<step:08d>.npz (another layer: a layer's layout is never served for another).
Layouts stay consistent across checkpoints: a checkpoint's layout starts from the nearest
earlier cached layout of the same run, method and layer (warm start for t-SNE/UMAP), and every
layout is then rotated/reflected onto that previous one (orthogonal Procrustes, which keeps all
distances), so points move instead of jumping.

Projections share the machine with a trainer: everything here runs on PROJECTION_THREADS
threads (default 1; env DANN_PROJECTION_THREADS). Oversubscribing 2 cores ran a trainer 20x
slower, so BLAS/OpenMP pools are capped with threadpoolctl and numba's pool with its env var
(set before numba is first imported, which happens lazily in tsne.py / umap).
"""
import os
import sys
import time
import zipfile

import numpy as np

from dann_core.rundir import files
from dann_core.rundir.reader import load_npz
from dann_core.rundir.safe_read import real_dir
from dann_core.rundir.writer import atomic_save_npz

METHODS = ("pca", "tsne", "umap")
LABELS = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
VERSION = 1  # bump when an algorithm or its settings change: older cache files are recomputed


def _threads_from_env():
    try:
        return max(1, int(os.environ.get("DANN_PROJECTION_THREADS", "1")))
    except ValueError:
        return 1


PROJECTION_THREADS = _threads_from_env()
os.environ.setdefault("NUMBA_NUM_THREADS", str(PROJECTION_THREADS))


class ProjectionError(ValueError):
    """A projection that cannot be computed, with a one-line reason."""


# ----------------------------------------------------------------------------- pure compute

def procrustes_align(y, ref):
    """Rotate/reflect `y` (N x 2, centred) to best match `ref`; distances are unchanged."""
    y = y - y.mean(0)
    if ref is None or len(ref) != len(y):
        return y
    r = ref - ref.mean(0)
    u, _, vt = np.linalg.svd(y.T @ r)
    return y @ (u @ vt)


def _top_components(x, k):
    """Scores of the `k` leading principal components of `x` (N x D), float64.

    Randomised SVD (Halko et al.): ~30 ms for 2,000 x 800 on one thread, against ~200 ms for an
    exact eigendecomposition; its error (~1e-3 relative) is invisible in a scatter plot.
    """
    from sklearn.utils.extmath import randomized_svd
    x = np.asarray(x, np.float64)
    x = x - x.mean(0)
    if x.shape[1] <= k:
        return x
    u, s, _ = randomized_svd(x, k, n_oversamples=10, n_iter=4, random_state=0)
    return u * s


def _reduce(x, dims=50):
    """PCA to `dims` dimensions first (standard for t-SNE/UMAP): less noise, faster neighbours."""
    return _top_components(x, dims)


def pca2(x):
    y = _top_components(x, 2)
    return np.c_[y, np.zeros(len(y))] if y.shape[1] == 1 else y


_umap_cached = []


def _import_umap():
    """umap-learn, with numba's on-disk cache switched on for its compiled functions.

    Its first fit compiles ~100 numba functions (21 s measured here) and, unlike pynndescent,
    umap-learn asks numba to cache one of them: every new server paid the 21 s again. With the
    cache on (what `@njit(cache=True)` does) a new process's first fit took 0.1 s after a 4.5 s
    import. numba keeps the cache beside the package (__pycache__), or in its user cache
    directory where that is read-only; a numba without the method only loses the speed-up."""
    import umap  # ~5 s: only when UMAP is asked for
    if not _umap_cached:
        _umap_cached.append(True)
        from numba.core.dispatcher import Dispatcher
        for name, mod in list(sys.modules.items()):
            if name.startswith("umap.") and mod is not None:
                for f in list(vars(mod).values()):
                    if isinstance(f, Dispatcher) and hasattr(f, "enable_caching"):
                        f.enable_caching()
    return umap


def _umap(x, init, seed):
    umap = _import_umap()
    n = len(x)
    kw = dict(n_components=2, n_neighbors=int(min(15, n - 1)), min_dist=0.1, random_state=seed,
              n_jobs=1, init=init if init is not None else "spectral", verbose=False)
    if init is not None:
        kw["n_epochs"] = 100  # a warm start needs only a short refinement
    return umap.UMAP(**kw).fit_transform(x)


def compute(features, method, init=None, seed=0, threads=None):
    """Project `features` (N x D) to N x 2 float32 with `method`; `init`: the previous layout.

    Pure: no disk, no Streamlit. Runs on `threads` threads (default PROJECTION_THREADS).
    """
    from threadpoolctl import threadpool_limits
    if method not in METHODS:
        raise ProjectionError(f"unknown projection {method!r} (use one of {', '.join(METHODS)})")
    x = np.asarray(features, np.float32)
    if x.ndim != 2 or len(x) < 5:
        raise ProjectionError(f"need an N x D feature matrix with N >= 5, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ProjectionError("the features hold NaN or inf (did the run diverge?)")
    if init is not None and np.shape(init) != (len(x), 2):
        init = None  # a layout of other points cannot seed this one
    threads = threads or PROJECTION_THREADS
    with threadpool_limits(limits=threads):
        _numba_threads(threads)
        if method == "pca":
            y = pca2(x)
        elif method == "tsne":
            from dashboard.plots.tsne import tsne
            # warm start from the previous layout; cold otherwise (PCA initialisation)
            y = tsne(_reduce(x), init=None if init is None else procrustes_align(np.asarray(init, np.float64), None),
                     seed=seed)
        else:
            xr = _reduce(x)
            y = _umap(xr, None if init is None else np.asarray(init, np.float64), seed)
    return procrustes_align(np.asarray(y, np.float64), None if init is None else np.asarray(init, np.float64)
                            ).astype(np.float32)


def _numba_threads(n):
    import sys
    nb = sys.modules.get("numba")
    if nb is not None:
        try:
            nb.set_num_threads(min(n, nb.config.NUMBA_NUM_THREADS))
        except Exception:  # older numba, or a pool already fixed: the env var still applies
            pass


def mean_displacement(layouts):
    """Mean distance a point moves between consecutive layouts, in units of the layout's RMS
    radius (so t-SNE, UMAP and PCA scales compare). The consistency measure of the issue."""
    d = []
    for a, b in zip(layouts, layouts[1:]):
        a = a - a.mean(0)
        b = b - b.mean(0)
        scale = np.sqrt(((a ** 2).sum(1).mean() + (b ** 2).sum(1).mean()) / 2) + 1e-12
        d.append(float(np.sqrt(((a - b) ** 2).sum(1)).mean() / scale))
    return float(np.mean(d)) if d else 0.0


# ----------------------------------------------------------------------------- disk cache

def tag(method, layer="features"):
    """The cache files' prefix for (method, layer): the features keep the plain method name."""
    return method if layer in (None, "features") else f"{method}-{layer}"


def cache_path(run_dir, method, step, layer="features"):
    return files.projection(run_dir, tag(method, layer), step)


def _cache_usable(run_dir):
    """False when RUN/projections (or the run directory) is a symlink: a run copied in must not
    make the dashboard read or write outside the runs directory. The layout is then computed
    every time, not kept."""
    d = files.projections(run_dir)
    return not os.path.islink(os.path.normpath(run_dir)) and (real_dir(d) or not os.path.lexists(d))


def cache_stamp(run_dir, method, step, layer="features"):
    """(mtime, size) of a cached layout, or None: changes when the layout is recomputed."""
    try:
        st = os.stat(cache_path(run_dir, method, step, layer))
        return st.st_mtime_ns, st.st_size
    except OSError:
        return None


def load_cached(run_dir, method, step, n=None, layer="features"):
    """The cached layout (N x 2 float32), or None when absent, stale or unreadable."""
    if not _cache_usable(run_dir):
        return None
    try:
        z = load_npz(cache_path(run_dir, method, step, layer))
        y = z["y"]
        if int(z["version"]) != VERSION:
            return None
    except (FileNotFoundError, OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile, EOFError):
        return None
    if y.ndim != 2 or y.shape[1] != 2 or (n is not None and len(y) != n) or not np.all(np.isfinite(y)):
        return None
    return y.astype(np.float32)


def cached_steps(run_dir, method, layer="features"):
    method = tag(method, layer)
    if not _cache_usable(run_dir):
        return []
    try:
        names = os.listdir(files.projections(run_dir))
    except OSError:
        return []
    return sorted(s for s in (files.projection_step(n, method) for n in names) if s is not None)


def _save(run_dir, method, step, y, init_step, seconds, layer="features"):
    path = cache_path(run_dir, method, step, layer)
    if not _cache_usable(run_dir):
        return False
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_save_npz(path, y=y.astype(np.float32), version=np.int64(VERSION), step=np.int64(step),
                        init_step=np.int64(-1 if init_step is None else init_step),
                        seconds=np.float64(seconds))
        return True
    except OSError:
        return False  # a read-only run directory: the projection is still shown, just not kept


def layout(run_dir, step, method, features, warm=True, seed=0, threads=None, layer="features"):
    """The layout of checkpoint `step` (its probe features of `layer`), from the cache or
    computed once and cached.

    Warm start: from the nearest earlier cached layout of the same run, method and layer. With none
    (say, step 0 after the last checkpoint), it starts cold: a trained checkpoint's layout would
    put trained structure into an untrained one; it is only turned (Procrustes) to face the
    nearest later one. Returns (y, info) with info = {"cached": bool, "seconds": float,
    "init_step": int|None, "saved": bool}.
    """
    n = len(features)
    y = load_cached(run_dir, method, step, n, layer)
    if y is not None:
        return y, {"cached": True, "seconds": 0.0, "init_step": None, "saved": True}
    init, init_step, face = None, None, None
    if warm:
        others = [s for s in cached_steps(run_dir, method, layer) if s != step]
        earlier = [s for s in others if s < step][::-1][:3]  # skip an unreadable one, but do not scan forever
        later = [s for s in others if s > step][:3]
        init_step = next((s for s in earlier if load_cached(run_dir, method, s, n, layer) is not None), None)
        init = None if init_step is None else load_cached(run_dir, method, init_step, n, layer)
        if init is None:
            face = next((y for y in (load_cached(run_dir, method, s, n, layer) for s in later) if y is not None),
                        None)
    t0 = time.perf_counter()
    y = compute(features, method, init=init, seed=seed, threads=threads)
    if face is not None:
        y = procrustes_align(np.asarray(y, np.float64), np.asarray(face, np.float64)).astype(np.float32)
    dt = time.perf_counter() - t0
    saved = _save(run_dir, method, step, y, init_step, dt, layer)
    return y, {"cached": False, "seconds": dt, "init_step": init_step, "saved": saved}


def chain(run_dir, steps, method, load_features, upto=None, warm=True, progress=None, layer="features"):
    """Layouts of `steps` (ascending) up to `upto`, computed in order so each warm-starts
    from the one before. `load_features(step)` -> N x D or None (unreadable checkpoint).
    `progress(i, n)` is called after each. Returns {step: y}."""
    steps = sorted(s for s in steps if upto is None or s <= upto)
    out = {}
    for i, s in enumerate(steps):
        f = load_features(s)
        if f is not None:
            y = load_cached(run_dir, method, s, len(f), layer)
            if y is None:
                y, _ = layout(run_dir, s, method, f, warm=warm, layer=layer)
            out[s] = y
        if progress is not None:
            progress(i + 1, len(steps))
    return out
