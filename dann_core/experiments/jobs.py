"""Run several trainings at once, as separate processes, with the cores split between them."""
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor, as_completed


def default_jobs(device="auto"):
    """Trainings in parallel: one per core on a CPU (each with one thread: small nets scale
    poorly across threads), a few at once on a GPU, which one small net does not fill."""
    import torch
    if device in ("auto", "cuda") and torch.cuda.is_available():
        return 4
    return max(1, os.cpu_count() or 1)


def train_summary(kw):
    """Train one run from Config keyword arguments; returns the trainer's summary dict."""
    from dann_core.config import Config
    from dann_core.train import train
    return train(Config(**kw))


def run_many(kws, jobs=1, on_done=None, fn=train_summary):
    """Train every Config-kwargs dict in `kws` with `fn` (a module-level function of one dict, so
    that a worker process can import it); summaries come back in the same order.

    `threads` is set to cores // jobs for each run unless given, so that the runs together
    use each core once (oversubscribed CPUs ran 20x slower here). `on_done(i, summary)` is
    called as each run finishes, in the order they finish.
    """
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    kws = [{"threads": threads, **kw} for kw in kws]
    out = [None] * len(kws)
    if jobs <= 1 or len(kws) <= 1:
        for i, kw in enumerate(kws):
            out[i] = fn(kw)
            if on_done:
                on_done(i, out[i])
        return out
    with ProcessPoolExecutor(min(jobs, len(kws)), mp_context=mp.get_context("spawn")) as ex:
        futures = {ex.submit(fn, kw): i for i, kw in enumerate(kws)}
        for f in as_completed(futures):
            out[futures[f]] = f.result()
            if on_done:
                on_done(futures[f], out[futures[f]])
    return out
