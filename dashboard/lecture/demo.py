"""Lecture mode's data: the precomputed demo runs in assets/demo (made by
scripts/make_demo_assets.py), read and checked, and the figures built from them.

No training, no projection, no torch: everything shown was computed ahead, so the page opens
at once. Pure functions of the files (no Streamlit); bad or missing files raise DemoError with
one line that says which file and what to do.

assets/demo/demo.json                 {"format": 1, "demos": {key: {title, pair, kind, n, runs, modes?, sides?, note?,
                                      lesson?, sweep?}}}
                                      modes: the demo's runs in order (default source_only, dann);
                                      sides: the groups of 2-3 runs the page puts side by side, the
                                      first by default (default: each run against each later one);
                                      lesson: one sentence, what the method that works uses (shown
                                      beside the first group)
assets/demo/<key>/<mode>.npz          one per mode (source_only.npz, dann.npz, cdan_e.npz, ...):
                                      steps (S), pca and tsne (S×N×2 float16), pred (S×N), y, domain (N),
                                      feature_steps (K), features (K×N×D float16), w_* (moons weights, S×…),
                                      pca_hidden and tsne_hidden (S×N×2, image demos: G_y's hidden layer;
                                      absent in older assets and where that layer is G_f, as for moons)
assets/demo/<key>/metrics.json        {mode: {evals, train, final, config, feature_note}}
assets/demo/<key>/inputs.npz|png      moons points (x, N×2) | a sprite of the digit thumbnails
assets/demo/<key>/sweep.json          a dann_core sweep (moons)
"""
import json
import math
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dann_core.eval.metrics import proxy_a_distance
from dann_core.methods.modes import ADVERSARIAL, label
from dann_core.rundir.layers import LAYERS
from dashboard.export.gif import figures_gif
from dashboard.export.projector import metadata_frame, point_images, projector_files, zip_files
from dashboard.plots import classes, projections
from dashboard.plots import moons as moons_figure
from dashboard.plots.curves import curves_figure, split_metrics
from dashboard.plots.embedding import embedding_figure, place_key
from dashboard.plots.style import big_type
from dashboard.runs.sweeps import SweepError, read_sweep

FORMAT = 1
MODES = ("source_only", "dann")  # a demo's runs when demo.json names none (and the moons figure's rows)


class DemoError(ValueError):
    """Demo assets that cannot be used, with a one-line reason."""


MAKE = "make them with: python scripts/make_demo_assets.py"


def stamp(root):
    """demo.json's mtime (0 when missing): a cache key that changes when the assets are remade."""
    try:
        return os.path.getmtime(os.path.join(root, "demo.json"))
    except OSError:
        return 0


def read_index(root):
    path = os.path.join(root, "demo.json")
    try:
        with open(path) as f:
            idx = json.load(f)
    except FileNotFoundError:
        raise DemoError(f"no demo assets in {root} ({MAKE})") from None
    except (OSError, ValueError) as e:
        raise DemoError(f"{path} is unreadable ({type(e).__name__}); {MAKE}") from None
    if not isinstance(idx, dict) or idx.get("format") != FORMAT:
        raise DemoError(f"{path} has format {idx.get('format') if isinstance(idx, dict) else '?'}, this dashboard "
                        f"reads format {FORMAT}; {MAKE}")
    if not isinstance(idx.get("demos"), dict) or not idx["demos"]:
        raise DemoError(f"{path} lists no demos; {MAKE}")
    return idx


@dataclass
class RunAsset:
    mode: str
    steps: list
    layouts: dict                 # (method, layer) -> S×N×2 float32
    pred: np.ndarray              # S×N
    feature_steps: list
    features: np.ndarray          # K×N×D float32
    weights: list = None          # moons: one {W1, b1, Wy, by, Wd, bd} per step
    evals: list = field(default_factory=list)
    train: list = field(default_factory=list)
    final: dict = field(default_factory=dict)
    feature_note: str = ""

    def index(self, step):
        """Index of the kept checkpoint nearest to `step`."""
        return int(np.argmin([abs(s - step) for s in self.steps]))

    def metrics_at(self, step):
        return next((r for r in reversed(self.evals) if r.get("step") == step), {})

    def record_near(self, step):
        """The evaluation record of the kept checkpoint nearest to `step`."""
        return self.metrics_at(self.steps[self.index(step)])

    @property
    def layers(self):
        """The layers with stored layouts: ["features"], plus "hidden" for image demos."""
        return [lay for lay in LAYERS if ("tsne", lay) in self.layouts]


@dataclass
class Demo:
    key: str
    title: str
    pair: str
    kind: str                     # "points" or "image"
    y: np.ndarray
    domain: np.ndarray
    runs: dict
    x: np.ndarray = None          # points pairs: N×2 inputs
    images: np.ndarray = None     # image pairs: N×H×W×3 uint8
    sweep: dict = None
    n_classes: int = 2
    note: str = ""                # what the demo is there to show (one or two sentences)
    lesson: str = ""              # one sentence: what the method that works uses that DANN does not
    groups: list = None           # demo.json's "sides": the runs the page can put side by side
    _thumbs: list = None

    @property
    def modes(self):
        """The demo's runs in order: source-only first, then the adapted ones."""
        return list(self.runs)

    def sides(self):
        """The groups of runs the page can put side by side, the default first: demo.json's "sides",
        else each run against each later one (two runs: just source-only vs DANN)."""
        if self.groups:
            return [tuple(g) for g in self.groups]
        ms = self.modes
        return [(a, b) for i, a in enumerate(ms) for b in ms[i + 1:]]

    @property
    def steps(self):
        return self.runs["dann"].steps

    @property
    def layers(self):
        """The layers both runs have layouts of (the page offers only these)."""
        return [lay for lay in LAYERS if all(lay in r.layers for r in self.runs.values())]

    def thumbs(self):
        """PNG data URIs of the inputs (image pairs), for the hover card; made once."""
        if self.images is None:
            return None
        if self._thumbs is None:
            from dann_core.data.thumbnails import data_uri
            self._thumbs = [data_uri(im, size=int(im.shape[0])) for im in self.images]
        return self._thumbs


def _npz(path):
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DemoError(f"{path} is missing; {MAKE}") from None
    except Exception as e:  # a truncated or foreign file: say which one
        raise DemoError(f"{path} is unreadable ({type(e).__name__}); {MAKE}") from None


def _need(cond, path, what):
    if not cond:
        raise DemoError(f"{path}: {what}; {MAKE}")


def _run(path, mode, metrics, n_expected=None):
    a = _npz(path)
    for k in ("steps", "pca", "tsne", "pred", "y", "domain", "features", "feature_steps"):
        _need(k in a, path, f"has no {k!r}")
    steps = [int(s) for s in a["steps"]]
    S, N = len(steps), len(a["y"])
    _need(S >= 1 and steps == sorted(steps), path, "has no checkpoints, or they are out of order")
    _need(n_expected is None or N == n_expected, path, f"holds {N} points, the demo says {n_expected}")
    layouts = {}
    for lay in LAYERS:
        for method in ("pca", "tsne"):
            m = method if lay == "features" else f"{method}_{lay}"
            if m not in a:  # the hidden layer's are optional: older assets, and moons, have none
                continue
            _need(a[m].shape == (S, N, 2), path, f"{m} has shape {a[m].shape}, expected {(S, N, 2)}")
            _need(np.all(np.isfinite(a[m])), path, f"{m} holds NaN or inf")
            layouts[method, lay] = a[m].astype(np.float32)
        _need(((("pca", lay) in layouts) == (("tsne", lay) in layouts)), path, f"has only one projection of {lay}")
    _need(a["pred"].shape == (S, N) and len(a["domain"]) == N, path, "pred/domain do not match the points")
    f = a["features"]
    _need(f.ndim == 3 and f.shape[0] == len(a["feature_steps"]) and f.shape[1] == N, path, "features have a bad shape")
    weights = None
    if "w_W1" in a:
        weights = []
        for i in range(S):
            try:
                weights.append(moons_figure.check_weights({k: a[f"w_{k}"][i] for k in moons_figure.KEYS}))
            except (KeyError, IndexError, ValueError) as e:
                raise DemoError(f"{path}: bad moons weights ({e}); {MAKE}") from None
    m = metrics.get(mode) or {}
    return RunAsset(mode=mode, steps=steps, layouts=layouts,
                    pred=a["pred"].astype(int), feature_steps=[int(s) for s in a["feature_steps"]],
                    features=f.astype(np.float32), weights=weights, evals=list(m.get("evals") or []),
                    train=list(m.get("train") or []), final=dict(m.get("final") or {}),
                    feature_note=str(m.get("feature_note", ""))), a["y"].astype(int), a["domain"].astype(int)


def load(root, key):
    """The demo `key` of the assets in `root`; DemoError (one line) when anything is off."""
    idx = read_index(root)
    info = idx["demos"].get(key)
    if not isinstance(info, dict):
        raise DemoError(f"no demo {key!r} in {root} (there are: {', '.join(idx['demos'])})")
    d = os.path.join(root, key)
    mpath = os.path.join(d, "metrics.json")
    try:
        with open(mpath) as f:
            metrics = json.load(f)
        _need(isinstance(metrics, dict), mpath, "is not a JSON object")
    except FileNotFoundError:
        raise DemoError(f"{mpath} is missing; {MAKE}") from None
    except (OSError, ValueError) as e:
        raise DemoError(f"{mpath} is unreadable ({type(e).__name__}); {MAKE}") from None
    modes = info.get("modes", list(MODES))
    if (not isinstance(modes, list) or len(modes) < 2 or modes[:2] != list(MODES) or len(set(modes)) != len(modes)
            or not all(m in ADVERSARIAL for m in modes[1:])):
        others = ", ".join(sorted(set(ADVERSARIAL) - {"dann"}))
        raise DemoError(f"{os.path.join(root, 'demo.json')}: demo {key!r} lists runs {modes!r}; expected source_only, "
                        f"dann and optionally other adversarial modes ({others}); {MAKE}")
    runs, y, dom = {}, None, None
    for mode in modes:
        runs[mode], y_, dom_ = _run(os.path.join(d, f"{mode}.npz"), mode, metrics, info.get("n"))
        if y is None:
            y, dom = y_, dom_
        _need(np.array_equal(y, y_) and np.array_equal(dom, dom_), os.path.join(d, f"{mode}.npz"),
              "its points differ from the other run's")
    groups = info.get("sides")
    if groups is not None and (not isinstance(groups, list) or not groups or not all(
            isinstance(g, list) and 2 <= len(g) <= 3 and len(set(g)) == len(g) and set(g) <= set(modes)
            for g in groups)):
        raise DemoError(f"{os.path.join(root, 'demo.json')}: demo {key!r} has sides {groups!r}; expected groups of "
                        f"2 or 3 of its runs ({', '.join(modes)}); {MAKE}")
    kind = info.get("kind")
    demo = Demo(key=key, title=str(info.get("title", key)), pair=str(info.get("pair", key)), kind=kind, y=y,
                domain=dom, runs=runs, n_classes=int(info.get("n_classes") or (int(y.max()) + 1)),
                note=str(info.get("note") or ""), lesson=str(info.get("lesson") or ""), groups=groups)
    if kind == "points":
        ipath = os.path.join(d, "inputs.npz")
        x = _npz(ipath).get("x")
        _need(x is not None and x.shape == (len(y), 2), ipath, "x must be N×2")
        demo.x = x.astype(np.float64)
    elif kind == "image":
        demo.images = _sprite_images(os.path.join(d, "inputs.png"), len(y), int(info.get("thumb_side") or 28))
    else:
        raise DemoError(f"{os.path.join(root, 'demo.json')}: demo {key!r} has an unknown kind {kind!r}; {MAKE}")
    if info.get("sweep"):
        try:
            demo.sweep = read_sweep(os.path.join(d, info["sweep"]))
        except SweepError as e:
            raise DemoError(f"{key}: {e}; {MAKE}") from None
    return demo


def _sprite_images(path, n, side):
    from PIL import Image
    try:
        with Image.open(path) as im:
            sheet = np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise DemoError(f"{path} is missing; {MAKE}") from None
    except Exception as e:
        raise DemoError(f"{path} is unreadable ({type(e).__name__}); {MAKE}") from None
    grid = int(math.ceil(math.sqrt(n)))
    _need(sheet.shape[0] == sheet.shape[1] == grid * side, path,
          f"is {sheet.shape[1]}×{sheet.shape[0]} px, expected {grid * side} px square for {n} thumbnails")
    return np.stack([sheet[(i // grid) * side:(i // grid + 1) * side, (i % grid) * side:(i % grid + 1) * side]
                     for i in range(n)])


# ----------------------------------------------------------------------------- figures

def points_frame(demo, mode, step, method, layer="features"):
    """The embedding figure's input (figures.embedding_figure) at the kept checkpoint nearest `step`,
    laid out from `layer`'s features (dann_core.layers)."""
    run = demo.runs[mode]
    i = run.index(step)
    if (method, layer) not in run.layouts:
        raise DemoError(f"demo {demo.key!r} has no {LAYERS.get(layer, layer)} layouts; {MAKE}")
    xy = run.layouts[method, layer][i]
    df = pd.DataFrame({"idx": np.arange(len(demo.y)), "domain": np.where(demo.domain == 0, "source", "target"),
                       "label": demo.y, "x": xy[:, 0], "y": xy[:, 1], "pred": run.pred[i]})
    if demo.x is not None:
        df["in0"], df["in1"] = demo.x[:, 0], demo.x[:, 1]
    elif demo.images is not None:
        df["thumb"] = demo.thumbs()
    return df


def inputs_frame(demo):
    """The raw inputs of a points demo (moons: the plane itself), as the embedding figure's input."""
    if demo.x is None:
        raise DemoError(f"demo {demo.key!r} has images, not points in a plane")
    return pd.DataFrame({"idx": np.arange(len(demo.y)), "domain": np.where(demo.domain == 0, "source", "target"),
                         "label": demo.y, "x": demo.x[:, 0], "y": demo.x[:, 1], "pred": demo.y,
                         "in0": demo.x[:, 0], "in1": demo.x[:, 1]})


def fmt(v, digits=2):
    return "—" if not isinstance(v, (int, float)) or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def pad(rec, layer="features"):
    """The proxy A-distance of an evaluation record at `layer` (from its linear domain error), or None."""
    e, _ = classes.layer_metrics(rec, layer)
    return None if e is None else proxy_a_distance(e)


# One sentence per layer for the page: what the picture shows, and what it does not.
READINGS = {
    "features": "**Features, what the domain classifier sees** (the paper's feature space): how far DANN draws "
                "the target cloud towards the source. It does not show whether each target point lands among its "
                "own class: the class agreement says how many do.",
    "hidden": "**The classifier's hidden layer**, one layer up, where the classes are split: whether target points "
              "sit inside the source cluster of their own class, which is what target accuracy rewards. It does "
              "not show that the domains are indistinguishable: the proxy A-distance says how far apart they stay.",
}


def embedding(demo, mode, step, method="tsne", colour_by="domain", height=560, big=True, title=None, legend=True,
              subtitle=True, layer="features", narrow=False):
    """`subtitle`: target accuracy and proxy A-distance under the title (the page shows them as
    metrics above the chart instead; exports keep them). `layer`: whose features are laid out.
    `narrow`: a chart a third of the page wide: the class key in smaller type, so that it fits."""
    run = demo.runs[mode]
    s = run.steps[run.index(step)]
    rec = run.metrics_at(s)
    sub = (f"target accuracy {fmt(rec.get('target_acc'))} · proxy A-distance {fmt(pad(rec, layer))}"
           if subtitle else None)
    fig = embedding_figure(points_frame(demo, mode, s, method, layer), title=title or f"{label(mode)} · step {s}",
                           colour_by=colour_by, height=height, subtitle=sub, marker_size=10, legend=legend,
                           revision=f"lecture:{demo.key}:{mode}:{method}:{colour_by}:{layer}")
    if not big:
        return fig
    big_type(fig)
    if narrow:
        fig.update_annotations(selector=dict(name="classes"), font_size=17)
    return place_key(fig)


def curves(demo, mode, height=520):
    run = demo.runs[mode]
    train, evals = split_metrics(run.train + [dict(r, eval=True) for r in run.evals])
    return curves_figure(train, evals, title=f"{label(mode)} · training curves", compact=True, height=height,
                         adversarial=mode in ADVERSARIAL)


def moons_rows(demo, step):
    """The moons figure's rows (source-only above, DANN below) at the kept checkpoint nearest `step`."""
    rows = []
    for mode in MODES:
        run = demo.runs[mode]
        if not run.weights:
            raise DemoError(f"demo {demo.key!r} has no network weights (only the moons demo draws JMLR Fig. 2)")
        i = run.index(step)
        rec = run.metrics_at(run.steps[i])
        rows.append({"label": label(mode), "weights": run.weights[i], "trained_domain": mode == "dann",
                     "note": f"target acc {fmt(rec.get('target_acc'))}"})
    return rows


def moons(demo, step, height=None, big=True):
    rows = moons_rows(demo, step)
    s = demo.runs["dann"].steps[demo.runs["dann"].index(step)]
    fig = moons_figure.moons_figure(rows, demo.x, demo.y, demo.domain, height=height,
                                    title=f"Two moons (JMLR Fig. 2) · step {s}",
                                    subtitle="source blue, target orange (rotated 35°); ● class 0, ✕ class 1")
    return big_type(fig, 1.15) if big else fig


# ----------------------------------------------------------------------------- exports

def gif(demo, mode, method="tsne", colour_by="domain", layer="features"):
    """An animated GIF of `mode`'s embedding (of `layer`) over every kept checkpoint."""
    where = "" if layer == "features" else f" · {LAYERS[layer]}"
    figs = [embedding(demo, mode, s, method, colour_by, height=760, big=False, layer=layer,
                      title=f"{demo.title} · {label(mode)} · {projections.LABELS[method]}{where} · step {s}")
            for s in demo.runs[mode].steps]
    return figures_gif(figs, width=820, height=760)


def tensorboard_zip(demo, mode, step):
    """(zip bytes, file name) of a TensorBoard projector folder for the stored features nearest `step`."""
    run = demo.runs[mode]
    k = int(np.argmin([abs(s - step) for s in run.feature_steps]))
    s = run.feature_steps[k]
    i = run.index(s)
    meta = metadata_frame(demo.y, demo.domain, run.pred[i])
    imgs = demo.images if demo.images is not None else point_images(demo.x, demo.domain)
    name = f"{demo.key}-{mode.replace('_', '')}-step{s}"
    files = projector_files(run.features[k], meta, imgs,
                                    tensor_name=f"{demo.title} · {label(mode)} · step {s} · {run.feature_note}")
    return zip_files(files, name), f"{name}-projector.zip", s


def assets_size(root):
    """Bytes under the assets folder (the lecture page says how small it is)."""
    total = 0
    for dp, _, fs in os.walk(root):
        for f in fs:
            try:
                total += os.path.getsize(os.path.join(dp, f))
            except OSError:
                pass
    return total
