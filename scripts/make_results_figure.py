"""The README's before/after figure from a reproduce run: source-only vs DANN, one seed.

    python scripts/make_results_figure.py [--results results] [--pair mnist-mnistm] [--seed 0]
                                          [--method tsne] [--layers features hidden]
                                          [--out docs/results/before_after.png]

It reads results/runs/<pair>-source_only-s<seed> and <pair>-dann-s<seed> (written by
`dann reproduce`), lays out each run's last probe features and writes one PNG: a row per layer
(G_f's output, what the domain classifier sees; G_y's hidden layer, where the classes are split).
"""
import argparse
import os
import sys


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--pair", default="mnist-mnistm")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--method", default="tsne", choices=("tsne", "pca", "umap"))
    ap.add_argument("--layers", nargs="+", default=["features", "hidden"], choices=("features", "hidden"))
    ap.add_argument("--out", default=os.path.join("docs", "results", "before_after.png"))
    a = ap.parse_args(argv)
    from dashboard.export.before_after import before_after_png
    runs = [os.path.join(a.results, "runs", f"{a.pair}-{m}-s{a.seed}") for m in ("source_only", "dann")]
    for r in runs:
        if not os.path.isfile(os.path.join(r, "manifest.json")):
            print(f"make_results_figure: error: no run at {r} (run `dann reproduce` first)", file=sys.stderr)
            return 2
    try:
        png = before_after_png(*runs, method=a.method, layers=tuple(a.layers))
    except ValueError as e:
        print(f"make_results_figure: error: {e}", file=sys.stderr)
        return 2
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "wb") as f:
        f.write(png)
    print(f"wrote {a.out} ({len(png) / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
