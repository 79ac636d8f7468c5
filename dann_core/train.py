"""The DANN training loop, top to bottom (Ganin & Lempitsky 2015, Algorithm 1).

Each step: half a batch of labelled source, half a batch of unlabelled target (batches.py).
    label loss   CE(G_y(G_f(x_s)), y_s)                        trains G_f and G_y
    domain loss  BCE(G_d(GRL_lambda(G_f(x))), d), d = 0 / 1     trains G_d, and through the
                                                               GRL pushes G_f the other way
The mode decides what is minimised (objectives.py): dann; source_only; target_only (the oracle);
semi (dann plus the labels of `semi_k` fixed target samples).

While it trains it streams into a run directory (stream.py): metrics every `log_every` steps,
an evaluation plus a checkpoint with the probe features every `ckpt_every` steps, and it reads
control.json between steps (control.py: set λ, pause, stop). `ema` > 0 makes the checkpoints
evaluate a moving average of the weights (averaging.py). Under torchrun every rank trains and
rank 0 alone evaluates and writes (device.py).

On a GPU: `amp` "bf16" runs the forward passes under bfloat16 autocast, `compile` the step's
model through torch.compile (its compile time is logged apart, as compile_s). The step never
waits for the device: losses are summed there and read back every `log_every` steps.
"""
import dataclasses
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from dann_core import __version__
from dann_core.config import resolve
from dann_core.data.batches import Batches
from dann_core.data.pairs import load_pair
from dann_core.device import autocast, place, sync
from dann_core.eval.evaluation import evaluate
from dann_core.eval.inference import use_channels_last
from dann_core.methods.modes import adversarial
from dann_core.methods.objectives import OBJECTIVES
from dann_core.methods.schedules import annealed_lr, lambda_at
from dann_core.nn.adabn import adapt_bn
from dann_core.nn.averaging import WeightAverage
from dann_core.nn.models import build_model
from dann_core.rundir.control import ControlPoll, parse_control, read_control, write_control
from dann_core.rundir.writer import RunWriter, WriteFailed, safe_run_dir

STATUS_EVERY_S = 0.5  # status.json: rewritten at a log step at most this often (a rewrite is an fsync)


class TrainingFailed(RuntimeError):
    pass


def train(cfg, progress=False, log=print):
    cfg = resolve(cfg)
    at = place(cfg.device, cfg.threads)
    torch.manual_seed(cfg.seed * 1000 + at.rank)
    np.random.seed(cfg.seed)

    # ---- data (on the device), model, optimiser, objective
    pair = load_pair(cfg.pair, cfg.seed, cfg.data_root, cfg.image_size)
    if cfg.augment != "none" and pair.kind != "image":
        raise ValueError(f"augment {cfg.augment!r} deforms images; pair {cfg.pair!r} holds points (use --augment none)")
    n_probe = min(cfg.n_probe, len(pair.y("source_test")), len(pair.y("target_test")))
    test = [torch.from_numpy(pair.arrays[f"{s}_{v}"]).to(at.device) for s in ("source_test", "target_test")
            for v in "xy"]
    half = cfg.batch_size // 2
    gen = torch.Generator().manual_seed(cfg.seed * 7919 + at.rank)
    net = build_model(cfg.model, pair.input_shape, pair.n_classes, cfg.mode).to(at.device)
    batches = Batches(pair, at.device, half, gen, cfg.semi_k, use_channels_last(net, at.device, pair.kind),
                      cfg.augment)
    steps_per_epoch = max(1, len(batches.yt if cfg.mode == "target_only" else batches.ys) // (half * at.world))
    total_steps = max(1, int(round(cfg.epochs * steps_per_epoch)))
    # the step it stops at; None: a run that goes on until stopped
    last_step = (cfg.max_steps or None) if cfg.until_stopped else min(total_steps, cfg.max_steps or total_steps)
    ckpt_every = -(-(last_step or total_steps) // cfg.evals) if cfg.evals else cfg.ckpt_every or steps_per_epoch
    trains_gd = adversarial(cfg.mode)
    model = at.wrap(net, all_parameters_used=trains_gd)  # what the step calls; `net` is what is saved
    if cfg.compile:
        model = torch.compile(model)
    opt = make_optimizer(cfg, net.parameters())
    objective = OBJECTIVES[cfg.mode]
    avg = WeightAverage(net, cfg.ema) if cfg.ema and at.main else None
    eval_net = avg.module if avg else net  # what the checkpoints evaluate and save

    # ---- the stream (rank 0 writes) and the control file
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = cfg.run_name or f"{cfg.pair}-{cfg.mode}-s{cfg.seed}-{stamp}-{os.getpid() % 10000:04d}"
    run_dir = safe_run_dir(cfg.runs_dir, name)
    start_control = parse_control(Path(cfg.control).read_text()) if cfg.control else {}
    writer = start_stream(cfg, run_dir, name, pair, n_probe, at, net, steps_per_epoch, total_steps, last_step,
                          ckpt_every, start_control) if at.main else None
    control = ControlPoll(run_dir, start_control)

    def checkpoint(step, extra):
        target_net = adapt_bn(eval_net, batches.xt, pair.kind) if cfg.adabn else None  # a copy: training goes on
        m, probe = evaluate(eval_net, *test, pair.kind, n_probe, target_net, cfg.amp)
        writer.log({"step": step, "epoch": step / steps_per_epoch, "progress": step / total_steps, **extra, **m,
                    "time": time.time() - t_start, "eval": True})
        writer.write_checkpoint(step, eval_net.state_dict(), y=np.concatenate(
            [pair.y("source_test")[:n_probe], pair.y("target_test")[:n_probe]]), domain=np.repeat(
            np.array([0, 1], np.int64), n_probe), lambd=np.float32(extra.get("lambda", 0)), **probe)
        return m

    def poll_control(step):
        """Rank 0 reads the control file (a corrupt one is logged once, and the last valid one kept);
        the other ranks keep theirs until the broadcast."""
        polled, err = control.poll() if at.main else (control.control, None)
        if err:
            writer.log({"step": step, "warning": f"{err}; ignored, keeping the last valid control"})
            log(f"warning: {err}; ignored")
        return polled

    def lambda_for(ctl, p):
        """The λ a step uses and its source: the control file's (set by hand), else the schedule's at
        progress p; 0 where no G_d is trained."""
        lam, source = ((float(ctl["lambda"]), "control") if ctl.get("lambda") is not None else
                       (lambda_at(p, cfg.lambda_schedule, cfg.lambda_max, cfg.gamma), "schedule"))
        return (lam if trains_gd else 0.0), source

    # ---- the loop
    t_start = t_step = time.time()
    step, state, last_eval = 0, "running", {}
    lam, lam_source, lam_hand, lr = 0.0, "schedule", None, cfg.lr
    sums = torch.zeros(4, device=at.device)  # label loss, domain loss, domain correct, count: summed on the device
    imgs, t_log, t_status, compile_s, ctl = 0, time.perf_counter(), 0.0, None, {}
    bar = progress_bar(last_step, name) if at.main and progress else None
    try:
        if at.main:
            # a λ set by hand before the start (--control, or the dashboard's file) counts from step 0
            lam0, src0 = lambda_for(poll_control(0), 0.0)
            last_eval = checkpoint(0, {"lambda": lam0, "lambda_source": src0, "lr": cfg.lr})
            writer.set_status("running", step=0, progress=0.0)
            imgs, t_log = 0, time.perf_counter()  # evaluation time is not training throughput
        while last_step is None or step < last_step:
            # -- control: rank 0 reads the file, every rank follows (under torchrun, from the next
            #    multiple of log_every: telling the other ranks waits for the device)
            polled = poll_control(step)
            if not at.distributed or step % cfg.log_every == 0:
                ctl = at.broadcast(polled)
            if ctl.get("stop"):
                state = "stopped"
                break
            if ctl.get("paused"):
                if at.main:
                    writer.set_status("paused", step=step, progress=step / total_steps)
                time.sleep(0.2)
                continue

            # -- schedules (p = progress), or a live λ from the control file
            p = min(step / total_steps, 1.0)  # past the end (a run until stopped): the schedules hold
            lam, lam_source = lambda_for(ctl, p)
            # a λ from the control file is logged the step it takes effect (and when the schedule
            # takes over again): a change undone within log_every steps is on record too
            hand = ctl.get("lambda") if trains_gd else None
            if at.main and hand != lam_hand:
                writer.log({"step": step, "event": "lambda", "lambda": lam, "lambda_source": lam_source,
                            "control_seq": ctl.get("seq"), "time": time.time() - t_start})
            lam_hand = hand
            lr = annealed_lr(p, cfg.lr) if cfg.lr_schedule == "anneal" else cfg.lr
            for g in opt.param_groups:
                g["lr"] = lr
            net.grl.lambd = lam  # λ only scales the gradient reaching G_f; G_d learns at full rate

            # -- one step
            b = batches.next(semi=cfg.mode == "semi")
            label_loss, domain_loss, dom_correct = train_step(model, objective, opt, b, at.device, cfg.amp)
            if avg is not None:
                avg.update()
            step += 1
            imgs += len(b.xs) + len(b.xt) if trains_gd else half
            with torch.no_grad():  # no host sync here: read back every log_every steps
                sums += torch.stack([label_loss.detach(), domain_loss.detach(), dom_correct.detach(),
                                     torch.ones((), device=at.device)])
            if cfg.compile and step == 1:  # that step compiled the model: its time is compile_s, not img/s
                sync(at.device)
                compile_s, imgs, t_log = time.perf_counter() - t_log, 0, time.perf_counter()
            if bar is not None:
                bar.update(1)
            if cfg.pace:  # sleep off what is left of this step's share of a second
                t_step = max(t_step + 1.0 / cfg.pace, time.time() - 1.0)
                time.sleep(max(0.0, t_step - time.time()))

            # -- stream: metrics, evaluation + checkpoint
            if at.main and (step % cfg.log_every == 0 or step == last_step):
                s = (sums / sums[3]).tolist()
                sums.zero_()
                if not all(math.isfinite(v) for v in s[:2]):
                    raise TrainingFailed(f"loss became NaN/inf by step {step} (label {s[0]}, domain {s[1]}); "
                                         "try a lower --lr or --lambda-max")
                now = time.perf_counter()
                writer.log({"step": step, "epoch": step / steps_per_epoch, "progress": step / total_steps,
                            "lambda": lam, "lambda_source": lam_source, "lr": lr, "label_loss": s[0],
                            "domain_loss": s[1] if trains_gd else None, "domain_acc_batch": s[2] if trains_gd else None,
                            "img_per_s": imgs / max(now - t_log, 1e-9), "time": time.time() - t_start,
                            **({"compile_s": compile_s} if compile_s is not None and step <= cfg.log_every else {})})
                imgs, t_log = 0, now
                if now - t_status >= STATUS_EVERY_S:  # nothing next to a CPU step; a lot next to a GPU one
                    writer.set_status("running", step=step, progress=step / total_steps)
                    t_status = now
                if bar is not None and last_eval:
                    bar.set_postfix(tgt=f"{last_eval['target_acc']:.3f}", lam=f"{lam:.2f}")
            if at.main and (step % ckpt_every == 0 or step == last_step):
                last_eval = checkpoint(step, {"lambda": lam, "lambda_source": lam_source, "lr": lr})
                imgs, t_log = 0, time.perf_counter()  # evaluation time is not training throughput

        state = "stopped" if state == "stopped" else "finished"
        if at.main:
            if writer.steps[-1] != step:
                last_eval = checkpoint(step, {"lambda": lam, "lambda_source": lam_source, "lr": lr})
            writer.set_status(state, step=step, progress=step / total_steps, **last_eval)
    except (KeyboardInterrupt, Exception) as e:
        if at.main:
            why = "interrupted" if isinstance(e, KeyboardInterrupt) else \
                str(e) if isinstance(e, (TrainingFailed, WriteFailed)) else f"{type(e).__name__}: {e}"
            try:  # a full disk can refuse this too: readers then see the run as dead
                writer.set_status("stopped" if isinstance(e, KeyboardInterrupt) else "failed", step=step,
                                  progress=step / total_steps, error=why)
            except OSError as e2:
                log(f"warning: could not mark the run {'stopped' if isinstance(e, KeyboardInterrupt) else 'failed'}"
                    f" in status.json ({e2})")
        raise
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
        at.close()

    return {"run": name, "run_dir": run_dir, "state": state, "steps": step, "rank": at.rank,
            **{k: last_eval.get(k) for k in SUMMARY_KEYS}, "seconds": time.time() - t_start, "compile_s": compile_s}


# the last evaluation's figures in train()'s summary
SUMMARY_KEYS = ("source_acc", "target_acc", "domain_err", "linear_domain_err", "linear_domain_err_hidden",
                "knn_agreement", "knn_agreement_hidden", "centroid_agreement_mean", "target_entropy", "class_prop_tv",
                "cond_domain_err_mean")


def make_optimizer(cfg, params):
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def train_step(model, objective, opt, b, device, amp="off"):
    """One step of Algorithm 1 on batch `b`: the objective's forward (under bf16 autocast when
    `amp` is "bf16"; backward and update outside it, on the fp32 weights), backward, update.
    Returns the objective's (label loss, domain loss, domain accuracy), still on the device."""
    with autocast(device, amp):
        label_loss, domain_loss, dom_correct = objective(model, b)
    opt.zero_grad(set_to_none=True)
    (label_loss + domain_loss).backward()
    opt.step()
    return label_loss, domain_loss, dom_correct


def start_stream(cfg, run_dir, name, pair, n_probe, at, net, steps_per_epoch, total_steps, last_step, ckpt_every,
                 start_control):
    """Create the run directory: manifest, status "starting", the probe inputs, and the control
    file to start from. A corrupt control file already there fails here, before any work."""
    os.makedirs(run_dir, exist_ok=True)
    writer = RunWriter(run_dir, cfg.keep_weights, cfg.keep_checkpoints)
    if cfg.control:
        write_control(run_dir, replace=True, **start_control)
    else:
        read_control(run_dir)
    writer.write_manifest({
        "name": name, "config": dataclasses.asdict(cfg), "pair": cfg.pair, "mode": cfg.mode,
        "model": cfg.model, "seed": cfg.seed, "kind": pair.kind, "input_shape": list(pair.input_shape),
        "n_classes": pair.n_classes, "sizes": pair.sizes(), "n_probe": n_probe,
        "steps_per_epoch": steps_per_epoch, "total_steps": total_steps, "last_step": last_step,
        "until_stopped": cfg.until_stopped,
        "ckpt_every": ckpt_every, "device": str(at.device), "world_size": at.world,
        "backend": torch.distributed.get_backend() if at.distributed else None,
        "device_name": torch.cuda.get_device_name(at.device) if at.device.type == "cuda" else None,
        "n_params": sum(p.numel() for p in net.parameters()), "layers": net.layer_manifest(),
        "versions": {"dann_core": __version__, "python": platform.python_version(),
                     "torch": torch.__version__, "cuda": torch.version.cuda, "numpy": np.__version__},
        "argv": sys.argv, "started": time.time(), "started_iso": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    writer.set_status("starting", step=0, progress=0.0)
    writer.write_probe(x=np.concatenate([pair.x("source_test")[:n_probe], pair.x("target_test")[:n_probe]]),
                       y=np.concatenate([pair.y("source_test")[:n_probe], pair.y("target_test")[:n_probe]]),
                       domain=np.repeat(np.array([0, 1], np.int64), n_probe), kind=np.array(pair.kind))
    return writer


def progress_bar(total, name):
    from tqdm import tqdm
    return tqdm(total=total, desc=name, unit="step", file=sys.stderr, dynamic_ncols=True)
