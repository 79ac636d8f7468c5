"""Run several trainings at once, as separate processes, with the cores split between them."""
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor


def default_jobs(device="auto"):
    """Trainings in parallel: one per core on a CPU (each with one thread: small nets scale
    poorly across threads), a few at once on a GPU, which one small net does not fill."""
    import torch
    if device in ("auto", "cuda") and torch.cuda.is_available():
        return 4
    return max(1, os.cpu_count() or 1)


def train_summary(kw):
    """Train one run from Config keyword arguments; returns the trainer's summary dict."""
    from .train import Config, train
    return train(Config(**kw))


def run_many(kws, jobs=1):
    """Train every Config-kwargs dict in `kws`; summaries come back in the same order.

    `threads` is set to cores // jobs for each run unless given, so that the runs together
    use each core once (oversubscribed CPUs ran 20x slower here).
    """
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    kws = [{"threads": threads, **kw} for kw in kws]
    if jobs <= 1 or len(kws) <= 1:
        return [train_summary(kw) for kw in kws]
    with ProcessPoolExecutor(min(jobs, len(kws)), mp_context=mp.get_context("spawn")) as ex:
        return list(ex.map(train_summary, kws))
