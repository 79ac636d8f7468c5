"""The registry of source -> target pairs, and their on-disk cache.

A pair is four splits held as numpy arrays: images as contiguous uint8 NCHW, points as
float32 (N, 2), and the int64 labels of each split. The target's labels may be absent (your
own unlabelled images, or `target_labels="none"`): then the arrays lack `target_train_y` /
`target_test_y`. Target-train labels are read only by the oracle (`target_only`) and `semi`
modes; `dann` never reads them. Held-out target labels serve the evaluation alone.

Each builder is deterministic from its seed; the result is cached as one .npz under
the cache directory ($DANN_CACHE, default ~/.cache/dann_explorer), keyed by name,
seed and the builder's version.
"""
import dataclasses
import os
import time
import zipfile
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

SPLITS = ("source_train", "source_test", "target_train", "target_test")
TARGET_LABELS = ("known", "none")   # load_pair's target_labels: keep the pair's, or drop them


class PairError(ValueError):
    """A pair that cannot be built here, with a one-line reason and how to fix it."""


@dataclass
class Pair:
    name: str
    arrays: dict            # f"{split}_x" / f"{split}_y" for split in SPLITS; a target split without
                            # labels has no f"{split}_y"
    n_classes: int
    kind: str               # "image" (uint8 NCHW) or "points" (float32 N x d)
    build_seconds: float = 0.0
    from_cache: bool = False

    def x(self, split):
        return self.arrays[f"{split}_x"]

    def y(self, split):
        """The labels of `split`, or None where it has none (an unlabelled target)."""
        return self.arrays.get(f"{split}_y")

    @property
    def input_shape(self):
        return tuple(self.x("source_train").shape[1:])

    @property
    def target_labelled(self):
        """Whether the held-out target split has labels (what the evaluation's accuracies need)."""
        return self.y("target_test") is not None

    def sizes(self):
        return {s: len(self.x(s)) for s in SPLITS}

    def without_target_labels(self):
        """This pair with its target labels dropped (the label-free experience on any pair)."""
        arrays = {k: v for k, v in self.arrays.items() if k not in ("target_train_y", "target_test_y")}
        return dataclasses.replace(self, arrays=arrays)


@dataclass
class PairSpec:
    name: str
    description: str
    build: Callable          # build(seed, data_root) -> (arrays, n_classes, kind)
    defaults: dict           # training defaults: model, epochs, optimizer, lr, ...
    # {mode: defaults of that mode on this pair}, over `defaults` and config.MODE_BASE
    mode_defaults: dict = field(default_factory=dict)
    offline: Callable = lambda data_root: (True, "embedded: ships with installed packages")
    version: int = 1
    cache: bool = True
    sizes: str = ""          # human summary, e.g. "4000 / 1000 / 4000 / 1000"
    tags: tuple = field(default_factory=tuple)
    # build() fetches what is missing (a download): a failed offline() check does not stop it
    downloads: bool = False
    # cache_key(data_root) -> str, part of the cache file name, for pairs whose data depend on
    # more than name/seed/version (a user's folders, the fonts installed); None: not needed
    cache_key: Callable = None
    # pairs whose image size is a choice (your own images): fit(data_root, image_size) -> (the
    # size to build at, the training defaults at that size); build and cache_key then take the
    # size as a third / second argument. None: the pair's size is fixed.
    fit: Callable = None


PAIRS = {}


def register(spec):
    PAIRS[spec.name] = spec
    return spec


def get_spec(name):
    _load_builtin()
    if name not in PAIRS:
        raise PairError(f"unknown pair {name!r} (known: {', '.join(sorted(PAIRS))}; "
                        "see `dann pairs`)")
    return PAIRS[name]


def all_specs():
    _load_builtin()
    return dict(PAIRS)


def cache_dir():
    return os.environ.get("DANN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "dann_explorer")


def sized_args(spec, data_root, image_size):
    """The extra arguments of a sized pair's build and cache_key: (image size,) or ()."""
    if spec.fit is None:
        if image_size is not None:
            raise PairError(f"pair {spec.name!r} has a fixed image size; --image-size is for pairs of your own "
                            "images (folders)")
        return ()
    return (spec.fit(data_root, image_size)[0],)


def load_pair(name, seed=0, data_root=None, image_size=None, target_labels="known"):
    """Pair `name` built for `seed` (from the cache when there). `image_size`: for pairs of your
    own images only (PairSpec.fit); None lets the pair choose. `target_labels` "none": the pair
    without its target labels (the cache keeps them)."""
    if target_labels not in TARGET_LABELS:
        raise PairError(f"target_labels must be one of {', '.join(TARGET_LABELS)} (got {target_labels!r})")
    pair = _load(name, seed, data_root, image_size)
    return pair.without_target_labels() if target_labels == "none" else pair


def _load(name, seed, data_root, image_size):
    spec = get_spec(name)
    t0 = time.perf_counter()
    sized = sized_args(spec, data_root, image_size)
    key = spec.cache_key(data_root, *sized) if spec.cache and spec.cache_key else ""
    path = os.path.join(cache_dir(), "pairs", f"{name}-seed{seed}-v{spec.version}{'-' + key if key else ''}.npz")
    if spec.cache and os.path.exists(path):
        try:
            with np.load(path) as z:
                arrays = {k: z[k] for k in z.files}
            meta = arrays.pop("_meta")
            return Pair(name, arrays, int(meta[0]), ["image", "points"][int(meta[1])],
                        time.perf_counter() - t0, True)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # a corrupt cache is rebuilt, not trusted
    ok, why = spec.offline(data_root)
    if not ok and not spec.downloads:
        raise PairError(f"pair {name!r} is not available: {why}")
    arrays, n_classes, kind = spec.build(seed, data_root, *sized)
    for s in SPLITS:
        x = arrays[f"{s}_x"]
        # contiguity matters: a permuted (non-contiguous) image tensor trained 11x slower here
        arrays[f"{s}_x"] = np.ascontiguousarray(x)
        if f"{s}_y" in arrays:  # a target without labels has none
            arrays[f"{s}_y"] = np.ascontiguousarray(arrays[f"{s}_y"], dtype=np.int64)
    if spec.cache:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.tmp{os.getpid()}.npz"
            np.savez(tmp, _meta=np.array([n_classes, ["image", "points"].index(kind)]), **arrays)
            os.replace(tmp, path)
        except OSError:
            pass  # an unwritable cache only costs a rebuild next time
    return Pair(name, arrays, n_classes, kind, time.perf_counter() - t0, False)


_loaded = False


def _load_builtin():
    """Import the builder modules; each registers its pairs."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib
    import pkgutil

    from dann_core.data import sets
    for m in pkgutil.iter_modules(sets.__path__):
        if not m.name.startswith("_"):
            importlib.import_module(f"{sets.__name__}.{m.name}")
