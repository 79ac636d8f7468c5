"""Slow layouts, computed off the page's thread: one worker per server.

A t-SNE or UMAP layout of a checkpoint nobody looked at yet takes seconds. A page that waited
for it stayed greyed out (Compare: 32-38 s after moving its progress slider on 2 loaded cores,
each further move queued behind the last). Here a page asks for the layout it shows and gets
the answer at once: the layout if it is on disk, else None while one worker thread computes
it. The newest request per (run, method, layer) replaces an older one not yet started, so a slider
dragged across ten checkpoints computes the one it stopped at, not ten. The page draws a PCA
layout meanwhile and looks again a second later.

UMAP's first use imports umap-learn and compiles its numba code (26 s measured on this
machine): `warm_umap` does that in the background when the app starts, and `umap_state`
tells the pages how far it got.
"""
import threading
import time
from collections import OrderedDict

import numpy as np

from dashboard.plots import projections

_lock = threading.Condition()
_wanted = OrderedDict()     # (run_dir, method, layer) -> (step, load_features)
_running = {}               # (run_dir, method, layer) -> step being computed
_failed = {}                # (run_dir, method, layer, step) -> one-line reason
_worker = None


def layout(run_dir, step, method, load_features, layer="features"):
    """The layout of checkpoint `step` (layer `layer`, whose probe features `load_features(step)`
    returns) if it is on disk (an N x 2 array), else None: then it is being computed (or has
    failed: `failure`), and asking again later gives it."""
    f = load_features(step)
    y = None if f is None else projections.load_cached(run_dir, method, step, len(f), layer)
    if y is not None or f is None:
        return y
    key = (run_dir, method, layer)
    with _lock:
        if key + (step,) not in _failed and _running.get(key) != step:
            _wanted[key] = (step, load_features)
            _wanted.move_to_end(key)
            _lock.notify()
        _start()
    return None


def failure(run_dir, method, step, layer="features"):
    with _lock:
        return _failed.get((run_dir, method, layer, step))


def _start():
    global _worker
    if _worker is None or not _worker.is_alive():
        _worker = threading.Thread(target=_work, name="dann-layouts", daemon=True)
        _worker.start()


def _work():
    while True:
        with _lock:
            while not _wanted:
                _lock.wait()
            key, (step, load) = _wanted.popitem(last=True)  # the newest first
            _running[key] = step
        try:
            f = load(step)
            if f is not None:
                projections.layout(key[0], step, key[1], f, layer=key[2])
        except Exception as e:  # a bad checkpoint: said once, not retried forever
            with _lock:
                _failed[key + (step,)] = f"{type(e).__name__}: {e}"[:200]
        finally:
            with _lock:
                _running.pop(key, None)


# ----------------------------------------------------------------------------- UMAP warm-up

_umap = {"state": "cold", "since": 0.0}


def warm_umap():
    """Import umap-learn and run it once on a few points, in a background thread (once per
    server): the first UMAP a person asks for then starts at once."""
    with _lock:
        if _umap["state"] != "cold":
            return
        _umap.update(state="warming", since=time.time())
    threading.Thread(target=_warm, name="dann-umap-warmup", daemon=True).start()


def _warm():
    try:
        import numpy as np
        projections.compute(np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32), "umap")
        _umap.update(state="ready", since=time.time())
    except Exception as e:  # umap-learn missing or broken: the pages say so when it is chosen
        _umap.update(state=f"failed: {type(e).__name__}: {e}"[:200], since=time.time())


def umap_state():
    """"cold", "warming", "ready" or "failed: ..."."""
    return _umap["state"]


_warmed = threading.Event()


def warm_pca():
    """Import what the first PCA needs (scikit-learn: ~3 s cold here, 6-8 s next to two trainers)
    in a background thread, once per server: the first live embedding after a Start then waits
    only for the trainer's first checkpoint."""
    with _lock:
        if _warmed.is_set():
            return
        _warmed.set()
    threading.Thread(target=lambda: projections.pca2(np.zeros((4, 3))), name="dann-pca-warmup", daemon=True).start()
