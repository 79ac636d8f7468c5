"""The GPU figures of docs/gpu.md, from one command, in one table.

    python benchmarks/gpu_check.py                  # one CUDA GPU: <= 8 minutes, no internet
    python benchmarks/gpu_check.py --smoke          # a CPU, the moons pair, tiny sizes: that it runs
    python benchmarks/gpu_check.py --json out.json  # the figures as JSON too

Rows (docs/gpu.md says what each means and its target):
  step <dtype> b<batch>   mnist_bn DANN step at total batch 128, 1,024 and 4,096, fp32 and bf16:
                          the bare step (bare_step.py) vs the full trainer, img/s, and the ratio;
                          the bare step in the other memory layout too (channels-last vs NCHW)
  first checkpoint        launching `dann train` -> checkpoint 0 on disk
  default run fp32/bf16   the default `dann train --pair mnist-mnistm` (DANN): seconds, target acc.
  torchrun nproc 1        `torchrun --standalone --nproc_per_node 1 -m dann_core train`: DDP runs
  reader following        trainer img/s while a dashboard reader follows the run, vs alone
  parallel runs           N default runs at once on the one device: runs a minute, the fastest N
  moons run               the default moons DANN run on the GPU vs one CPU thread
  reproduce --seeds 3     `dann reproduce --pairs moons mnist-mnistm --seeds 3 --jobs N`: wall time
  compile <dtype> b<batch> `dann train --compile`: compile seconds apart, then img/s vs eager

Everything runs within --budget seconds (default 470): a row that would not fit says so.
"""
import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

import torch
from bare_step import ROOT, bare_img_per_s, cli, env, launch_to_first_checkpoint

from dann_core.config import Config
from dann_core.data.pairs import load_pair
from dann_core.experiments.jobs import default_jobs
from dann_core.rundir.reader import RunReader
from dann_core.train import train

SUMMARY_RE = re.compile(r"^(\w+): source_acc=\S+ target_acc=(\S+) .*seconds=([\d.]+)", re.M)

# what a dashboard page reads on each refresh, every `every` seconds, until the run ends
READER = r"""
import json, sys, time
from dann_core.rundir.reader import RunReader
run_dir, every, limit = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
r, calls, t_end = RunReader(run_dir), [], time.time() + limit
print("ready", flush=True)
while time.time() < t_end:
    t = time.perf_counter()
    st = r.status(); r.metrics(); r.load_checkpoint(); r.manifest()
    calls.append(time.perf_counter() - t)
    if st.state in ("finished", "failed", "stopped"):
        break
    time.sleep(every)
print(json.dumps({"calls": len(calls), "max_s": max(calls), "checkpoints": len(r.checkpoint_steps())}))
"""


class Check:
    """The rows, printed as they come (stderr) and as one table at the end (stdout)."""

    def __init__(self, budget_s, smoke):
        self.t0, self.budget_s, self.smoke = time.perf_counter(), budget_s, smoke
        self.rows, self.data, self.failed = [], {}, []

    def left(self):
        return self.budget_s - (time.perf_counter() - self.t0)

    def row(self, key, text, target="", ok=None, **figures):
        verdict = "" if ok is None or self.smoke else ("  met" if ok else "  NOT MET")
        self.rows.append((key, text, target + verdict))
        self.data[key] = {"text": text, "target": target, "met": None if self.smoke else ok, **figures}
        print(f"[{time.perf_counter() - self.t0:6.1f} s] {key}: {text}", file=sys.stderr, flush=True)

    def section(self, keys, need_s, fn, *args, keep=0):
        """Run one section if `need_s` seconds are left, and `keep` more for the rows after it
        that matter more; a failure is one row, not the end."""
        if self.left() < need_s + keep:
            for k in keys:
                self.row(k, f"skipped: {self.left():.0f} s of the budget left; it needs ~{need_s:.0f} s"
                         + (f" and {keep:.0f} s stay for reproduce" if keep else ""))
            return None
        try:
            return fn(*args)
        except Exception as e:
            self.failed.append(keys[0])
            last = str(e).strip().splitlines()[-1][:200] if str(e).strip() else ""
            self.row(keys[0], f"FAILED: {type(e).__name__}: {last}")
            return None

    def table(self, header):
        w = max(len(k) for k, _, _ in self.rows)
        lines = header + ["", f"{'row':<{w}}  figure  [target]"]
        lines += [f"{k:<{w}}  {t}" + (f"  [{g}]" if g else "") for k, t, g in self.rows]
        return "\n".join(lines)


def header(device):
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        dev = f"{p.name} ({p.total_memory / 2**30:.0f} GiB, sm_{p.major}{p.minor}), {os.cpu_count()} CPU cores"
    else:
        dev = f"CPU only ({platform.machine()}), {os.cpu_count()} cores"
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return [f"device    {dev}",
            f"versions  torch {torch.__version__}, CUDA {torch.version.cuda or 'none'}, cuDNN {cudnn or 'none'}, "
            f"Python {platform.python_version()}"]


def record_img_per_s(run_dir):
    """img/s over a run's training records after the first (the warm-up; after --compile, the
    end of it). The trainer's img_per_s leaves evaluations out."""
    recs = [m for m in RunReader(run_dir).metrics() if "label_loss" in m]
    batch = RunReader(run_dir).manifest()["config"]["batch_size"]
    imgs = secs = 0.0
    for prev, m in zip(recs, recs[1:]):
        n = (m["step"] - prev["step"]) * batch
        imgs, secs = imgs + n, secs + n / m["img_per_s"]
    return imgs / secs if secs else float("nan"), recs


def trainer_figures(runs, name, pair, device, threads, **cfg):
    """Run the full trainer in this process: (img/s as record_img_per_s, the trainer's summary)."""
    s = train(Config(pair=pair, device=str(device), threads=threads, runs_dir=runs, run_name=name,
                     keep_weights="last", **cfg))
    return record_img_per_s(s["run_dir"])[0], s


def throughput(chk, pair, device, runs, threads, batches, steps, dtypes):
    for amp in dtypes:
        for batch in batches:
            n = steps[batch]
            bare = bare_img_per_s(device, batch, amp, n, pair=pair)
            full, _ = trainer_figures(runs, f"step-{amp}-{batch}", pair, device, threads, batch_size=batch, amp=amp,
                                      max_steps=n + 10, epochs=1e4, ckpt_every=10**9, log_every=10)
            bare2 = bare_img_per_s(device, batch, amp, n, pair=pair)  # again: drift shows
            other = bare_img_per_s(device, batch, amp, n, layout="other", pair=pair)
            ratio = full / ((bare + bare2) / 2)
            lay = "NCHW" if device.type == "cpu" else "channels-last"
            name = "fp32" if amp == "off" else amp
            chk.row(f"step {name} b{batch}",
                    f"bare {bare:,.0f} / {bare2:,.0f} img/s, trainer {full:,.0f} img/s, ratio {ratio:.3f}; "
                    f"bare in {lay}: {other:,.0f} img/s ({other / ((bare + bare2) / 2):.2f}x)",
                    ">= 0.95 ratio" + (", >= 100,000 img/s bare" if amp == "bf16" and batch == 4096 else ""),
                    ok=ratio >= 0.95 and (amp != "bf16" or batch != 4096 or bare >= 1e5),
                    bare=bare, bare_again=bare2, trainer=full, ratio=ratio, other_layout=other)
    rows = [v for k, v in chk.data.items() if k.startswith("step ")]
    faster = sum(r["other_layout"] > (r["bare"] + r["bare_again"]) / 2 for r in rows)
    lay = "NCHW" if device.type == "cpu" else "channels-last"
    chk.row("other layout", f"{lay} faster than the trainer's layout in {faster} of {len(rows)} configurations "
            f"(the trainer uses {'channels-last' if device.type == 'cpu' else 'NCHW'} on {device.type}; "
            "data/inputs.CHANNELS_LAST_ON)", faster_in=faster, of=len(rows))


def first_checkpoint_and_default_runs(chk, pair, device, runs, extra):
    for amp in ("off", "bf16"):
        name = "fp32" if amp == "off" else amp
        r = launch_to_first_checkpoint(["--pair", pair, "--device", str(device), "--amp", amp, *extra], runs,
                                       f"default-{name}", timeout=max(10.0, chk.left() - 30))
        m = SUMMARY_RE.search(r["out"])
        if r["rc"] != 0 or not m or r["first"] is None:
            raise RuntimeError(f"dann train --amp {amp} exited {r['rc']}: {r['out'].strip()[-300:]}")
        if amp == "off":
            chk.row("first checkpoint", f"{r['first']:.2f} s from launch to checkpoint 0 on disk (of which "
                    f"{r['ready'] or float('nan'):.2f} s to the manifest: python, imports, device, data, model)",
                    "<= 3 s",
                    ok=r["first"] <= 3.0, seconds=r["first"], ready_seconds=r["ready"])
        acc, secs = float(m.group(2)), float(m.group(3))
        chk.row(f"default run {name}", f"{r['exit']:.1f} s launch to exit (trainer {secs:.1f} s), "
                f"target_acc {acc:.4f}", "<= 10 s", ok=r["exit"] <= 10.0, seconds=r["exit"], trainer_seconds=secs,
                target_acc=acc)


def torchrun_smoke(chk, pair, device, runs, extra):
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1", "-m",
            "dann_core", "train", "--pair", pair, "--max-steps", "50", "--runs-dir", runs,
            "--run-name", "torchrun", "--no-progress", "--device", str(device), *extra]
    t = time.perf_counter()
    p = subprocess.run(argv, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=max(10.0, chk.left() - 30))
    wall = time.perf_counter() - t
    m = SUMMARY_RE.search(p.stdout)
    man = RunReader(os.path.join(runs, "torchrun")).manifest()
    if p.returncode != 0 or not m or not man.get("backend"):
        raise RuntimeError(f"torchrun exited {p.returncode}: {(p.stdout + p.stderr).strip()[-300:]}")
    chk.row("torchrun nproc 1", f"ran: DDP on {man['backend']}, world size {man['world_size']}, {man['last_step']} "
            f"steps, target_acc {float(m.group(2)):.4f}, {wall:.1f} s", "runs", ok=True, seconds=wall,
            backend=man["backend"])


def reader_following(chk, pair, device, runs, threads, cfg, every):
    alone, s_alone = trainer_figures(runs, "alone", pair, device, threads, **cfg)
    run_dir = os.path.join(runs, "followed")
    rd = subprocess.Popen([sys.executable, "-c", READER, run_dir, str(every), "600"], cwd=ROOT, env=env(),
                          stdout=subprocess.PIPE, text=True)
    rd.stdout.readline()  # "ready": it reads from before the run starts
    followed, s_followed = trainer_figures(runs, "followed", pair, device, threads, **cfg)
    r = json.loads(rd.communicate(timeout=60)[0].strip().splitlines()[-1])
    ratio = followed / alone
    chk.row("reader following", f"trainer {followed:,.0f} img/s with a reader every {every:g} s vs {alone:,.0f} "
            f"alone (ratio {ratio:.3f}; runs {s_followed['seconds']:.1f} s vs {s_alone['seconds']:.1f} s); "
            f"reader: {r['calls']} refreshes, slowest {r['max_s'] * 1000:.0f} ms", ">= 0.95 ratio",
            ok=ratio >= 0.95, followed=followed, alone=alone, ratio=ratio, reader_calls=r["calls"],
            reader_max_s=r["max_s"])


def parallel_runs(chk, pair, device, runs, extra, counts, one_run_s):
    """N default runs at once, each its own process sharing the device: runs a minute."""
    rate = {1: 60.0 / one_run_s}
    for n in counts:
        if n == 1:
            continue
        t = time.perf_counter()
        ps = [subprocess.Popen(cli("train", "--pair", pair, "--device", str(device), "--runs-dir", runs,
                                   "--run-name", f"par{n}-{i}", "--no-progress", *extra),
                               cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
              for i in range(n)]
        errs = [p.communicate(timeout=max(10.0, chk.left() - 30))[1] for p in ps]
        if any(p.returncode for p in ps):
            raise RuntimeError(f"a run of {n} at once failed: {errs[0].strip()[-200:]}")
        rate[n] = 60.0 * n / (time.perf_counter() - t)
    best = max(rate, key=rate.get)
    chk.row("parallel runs", ", ".join(f"{n} at once {r:.1f}" for n, r in rate.items()) +
            f" runs/min: fastest {best} at once (dann_core.jobs.default_jobs says {default_jobs(str(device))})",
            runs_per_min={str(k): v for k, v in rate.items()}, fastest=best)
    return best


def moons_run(chk, device, runs, max_steps):
    secs = {}
    for d in dict.fromkeys([str(device), "cpu"]):
        s = train(Config(pair="moons", device=d, threads=1, runs_dir=runs, run_name=f"moons-{d.replace(':', '')}",
                         max_steps=max_steps, keep_weights="last"))
        secs[d] = s["seconds"]
    chk.row("moons run", ", ".join(f"{d} {v:.1f} s" for d, v in secs.items()) +
            " (the default moons DANN run; cpu: one thread)", **{f"{d}_s": v for d, v in secs.items()})


def reproduce(chk, device, out, jobs, extra):
    t = time.perf_counter()
    p = subprocess.run(cli("reproduce", "--pairs", *extra["pairs"], "--seeds", extra["seeds"], "--jobs",
                           str(jobs), "--out", out, *extra["args"]), cwd=ROOT, env=env(), capture_output=True,
                       text=True, timeout=max(10.0, chk.left() - 5))
    wall = time.perf_counter() - t
    m = re.search(r"(\d+) results in (\d+) s", p.stdout)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"dann reproduce exited {p.returncode}: {(p.stdout + p.stderr).strip()[-300:]}")
    chk.row(f"reproduce --seeds {extra['seeds']}", f"{wall:.0f} s wall ({m.group(1)} results, --jobs {jobs}, "
            f"{' + '.join(extra['pairs'])})", "<= 120 s", ok=wall <= 120, seconds=wall, jobs=jobs)


def compiled_run(chk, device, runs, amp, batch, steps, eager):
    name = f"compile-{amp}-{batch}"
    p = subprocess.run(cli("train", "--pair", "mnist-mnistm", "--device", str(device), "--compile", "--amp", amp,
                           "--batch-size", str(batch), "--max-steps", str(steps), "--epochs", "10000",
                           "--ckpt-every", "1000000000", "--runs-dir", runs, "--run-name", name, "--no-progress"),
                       cwd=ROOT, env=env(), capture_output=True, text=True, timeout=max(10.0, chk.left() - 5))
    ips, recs = record_img_per_s(os.path.join(runs, name))
    if p.returncode != 0 or len(recs) < 2 or "compile_s" not in recs[0]:
        raise RuntimeError(f"dann train --compile exited {p.returncode}: {(p.stdout + p.stderr).strip()[-300:]}")
    label = "fp32" if amp == "off" else amp
    chk.row(f"compile {label} b{batch}", f"compile {recs[0]['compile_s']:.1f} s (apart), then trainer {ips:,.0f} "
            f"img/s vs {eager:,.0f} eager ({ips / eager:.2f}x)", compile_s=recs[0]["compile_s"], trainer=ips,
            eager=eager)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="CPU, tiny sizes, one thread: that the script runs")
    ap.add_argument("--device", default="cuda", help="the GPU to check (default: cuda)")
    ap.add_argument("--budget", type=float, default=470.0, help="seconds for everything (default: %(default)s)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--runs-dir", help="keep the runs here (default: a temporary directory, removed)")
    a = ap.parse_args()
    if a.smoke:  # the moons pair: a CPU step and evaluation in milliseconds, even in bf16
        device, threads, pair = torch.device("cpu"), 1, "moons"
        batches, steps, dtypes = (16, 32), {16: 20, 32: 20}, ("off", "bf16")
        train_extra, moons_steps, counts = ["--threads", "1", "--max-steps", "60"], 100, (1, 2)
        reader_cfg, every = dict(max_steps=300, ckpt_every=50, log_every=10), 0.2
        repro = {"pairs": ["moons"], "seeds": "1", "args": ["--epochs", "2"]}
        jobs_fixed, keep = 1, 20
    else:
        if not torch.cuda.is_available():
            sys.exit("gpu_check: error: torch sees no CUDA GPU here (--smoke runs the CPU smoke mode)")
        device, threads, pair = torch.device(a.device), 0, "mnist-mnistm"
        batches, steps, dtypes = (128, 1024, 4096), {128: 600, 1024: 200, 4096: 60}, ("off", "bf16")
        train_extra, moons_steps, counts = [], 0, (1, 2, 4, 8)
        reader_cfg, every = {}, 2.0
        repro = {"pairs": ["moons", "mnist-mnistm"], "seeds": "3", "args": []}
        jobs_fixed, keep = None, 150  # seconds kept for reproduce, a target, by the rows before it
    torch.set_num_threads(threads or os.cpu_count())
    chk, caches_s = Check(a.budget, a.smoke), float("nan")
    runs = a.runs_dir or tempfile.mkdtemp(prefix="gpu-check-")
    os.makedirs(runs, exist_ok=True)
    try:
        t = time.perf_counter()
        for p in dict.fromkeys([pair, "moons", *repro["pairs"]]):  # the caches, outside every timing
            for seed in range(int(repro["seeds"])):
                load_pair(p, seed)
        caches_s = time.perf_counter() - t
        print(f"pair caches ready in {caches_s:.1f} s", file=sys.stderr)
        chk.section(["step"], 90, throughput, chk, pair, device, runs, threads, batches, steps, dtypes)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        dev_extra = ["--threads", "1"] if device.type == "cpu" else []
        chk.section(["first checkpoint", "default run fp32", "default run bf16"], 40,
                    first_checkpoint_and_default_runs, chk, pair, device, runs, train_extra)
        chk.section(["torchrun nproc 1"], 30, torchrun_smoke, chk, pair, device, runs, dev_extra, keep=keep)
        chk.section(["reader following"], 40, reader_following, chk, pair, device, runs, threads, reader_cfg,
                    every, keep=keep)
        one = chk.data.get("default run fp32", {}).get("seconds")
        best = chk.section(["parallel runs"], 60, parallel_runs, chk, pair, device, runs, train_extra, counts, one,
                           keep=keep) if one else None
        chk.section(["moons run"], 20, moons_run, chk, device, runs, moons_steps, keep=keep)
        jobs = jobs_fixed or best or default_jobs(str(device))
        chk.section([f"reproduce --seeds {repro['seeds']}"], 60, reproduce, chk, device,
                    os.path.join(runs, "reproduce"), jobs, repro)
        if a.smoke:
            chk.row("compile", "skipped in --smoke (a compile takes a minute on a CPU)")
        else:
            for amp, batch in (("bf16", 4096), ("off", 128)):
                eager = chk.data.get(f"step {'fp32' if amp == 'off' else amp} b{batch}", {}).get("trainer")
                if eager:
                    chk.section([f"compile {'fp32' if amp == 'off' else amp} b{batch}"], 100, compiled_run, chk,
                                device, runs, amp, batch, steps[batch] + 20, eager)
    finally:
        if not a.runs_dir:
            shutil.rmtree(runs, ignore_errors=True)
    total = time.perf_counter() - chk.t0
    mode = f"SMOKE: CPU, pair {pair}, tiny sizes; the figures mean nothing" if a.smoke else f"GPU, pair {pair}"
    head = header(device) + [f"mode      {mode}, {total:.0f} s in all (budget {a.budget:.0f} s; of it "
                             f"{caches_s:.0f} s to build the pair caches, once a machine)"]
    print(chk.table(head))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"device": head[0], "versions": head[1], "smoke": a.smoke, "seconds": total,
                       "rows": chk.data}, f, indent=1, default=str)
    return 1 if chk.failed else 0


if __name__ == "__main__":
    sys.exit(main())
