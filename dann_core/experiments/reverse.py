"""Reverse validation (Zhong et al. 2010; the JMLR DANN paper, section 5.1): a label-free score of a
trained run, for choosing λ.

The run's last weights label the target train split; a *reverse* run of the same settings trains
on those pseudo-labelled target images as its source, adapts to the source images (unlabelled for
it), and is scored on the labelled source test split. No target label is read. The reverse pair
is registered under `reverse-<run>` in the process that needs it (pairs.register); its arrays are
built when a trainer first loads them.
"""
import os

import numpy as np

from dann_core.experiments.jobs import run_many, train_summary

PREFIX = "reverse-"
# the forward run's settings that the reverse run does not take: it has its own pair and name
NOT_TAKEN = ("pair", "run_name", "runs_dir", "data_root", "image_size", "target_labels", "threads")


def _arrays(run_dir):
    """The reverse pair's arrays: the forward run's target train split labelled by its last
    weights, to adapt to the source."""
    import torch

    from dann_core.data.pairs import load_pair
    from dann_core.eval.inference import forward_all, load_run_model
    net, man = load_run_model(run_dir)
    c = man["config"]
    pair = load_pair(c["pair"], c["seed"], c.get("data_root"), c.get("image_size"), c.get("target_labels", "known"))
    _, prob, _ = forward_all(net, torch.from_numpy(pair.x("target_train")), pair.kind)
    arrays = dict(source_train_x=pair.x("target_train"), source_train_y=prob.argmax(1).numpy(),
                  # the reverse run's own held-out source has no labels to read: zeros, never scored
                  source_test_x=pair.x("target_test"), source_test_y=np.zeros(len(pair.x("target_test")), np.int64),
                  target_train_x=pair.x("source_train"), target_train_y=pair.y("source_train"),
                  target_test_x=pair.x("source_test"), target_test_y=pair.y("source_test"))
    return arrays, pair.n_classes, pair.kind


def register_reverse_pair(run_dir):
    """Register the pseudo-labelled pair of the forward run `run_dir`; returns its name."""
    from dann_core.data.pairs import PairSpec, register
    from dann_core.rundir.reader import RunReader
    man = RunReader(run_dir).manifest()
    if not man or "config" not in man:
        raise FileNotFoundError(f"{run_dir} is not a run directory with a manifest")
    name = f"{PREFIX}{os.path.basename(os.path.normpath(run_dir))}"
    # the forward run's resolved settings are the reverse run's defaults
    defaults = {k: v for k, v in man["config"].items() if k not in NOT_TAKEN}
    register(PairSpec(name, f"{os.path.basename(run_dir)}'s target, pseudo-labelled -> its source",
                      lambda seed, root: _arrays(run_dir), defaults, cache=False))
    return name


def reverse_kw(run_dir, runs_dir):
    """Config kwargs of the reverse run of `run_dir`, written under `runs_dir` (the pair is
    registered here: call it in the process that checks or trains it)."""
    from dann_core.rundir.reader import RunReader
    name = register_reverse_pair(run_dir)
    c = RunReader(run_dir).manifest()["config"]
    return dict(pair=name, mode=c["mode"], seed=c["seed"], run_name=name, runs_dir=runs_dir, keep_weights="last",
                evals=1)


def reverse_summary(job):
    """Train one reverse run in this process: `job` is reverse_kw's dict and `forward`, the forward
    run's directory. Its summary's target_acc is the reverse score."""
    job = dict(job)
    register_reverse_pair(job.pop("forward"))
    return train_summary(job)


def reverse_scores(run_dirs, runs_dir, jobs=1, threads=None, reuse=None, log=print):
    """The reverse-validation score of each forward run in `run_dirs` (accuracy on its labelled
    source test split), training the reverse runs under `runs_dir`, `jobs` at a time (`threads`
    each: as run_many's). `reuse(kw)`: a finished run's summary, or None to train it."""
    kws = [{**reverse_kw(d, runs_dir), **({} if threads is None else {"threads": threads})} for d in run_dirs]
    summaries = [reuse(kw) if reuse else None for kw in kws]
    todo = [i for i, s in enumerate(summaries) if s is None]
    fresh = run_many([{**kws[i], "forward": run_dirs[i]} for i in todo], jobs, fn=reverse_summary,
                     on_done=lambda j, s: log(f"reverse run of {os.path.basename(run_dirs[todo[j]])}: "
                                              f"source accuracy {s['target_acc']:.4f}"))
    for i, s in zip(todo, fresh):
        summaries[i] = s
    return [s["target_acc"] for s in summaries]
