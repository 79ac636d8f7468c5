"""The DANN training loop, top to bottom (Ganin & Lempitsky 2015, Algorithm 1).

Each step: half a batch of labelled source, half a batch of unlabelled target (data/batches.py).
    label loss   CE(G_y(G_f(x_s)), y_s)                        trains G_f and G_y
    domain loss  BCE(G_d(GRL_lambda(G_f(x))), d), d = 0 / 1     trains G_d, and through the
                                                               GRL pushes G_f the other way
The mode decides what is minimised (methods/objectives.py): dann; source_only; target_only (the oracle);
semi (dann plus the labels of `semi_k` fixed target samples); cdan, cdan_e; mean_teacher (a student and
its moving-average teacher, methods/self_ensembling.py); im (dann plus information maximisation,
methods/information.py); methods/build.py makes each. A target without labels (data/pairs.py)
trains the same way (the modes that read target labels are refused); its evaluations then have
no figure that needs them.

While it trains it streams into a run directory (rundir/writer.py): metrics every `log_every` steps,
an evaluation plus a checkpoint with the probe features every `ckpt_every` steps, and it reads
control.json between steps (rundir/control.py: set λ, pause, stop). `ema` > 0 makes the checkpoints
evaluate a moving average of the weights (nn/averaging.py). Under torchrun every rank trains and
rank 0 alone evaluates and writes (device.py); at the end every rank waits for rank 0's last
write before the process group closes.

On a GPU: `amp` "bf16" runs the forward passes under bfloat16 autocast, `compile` the step's
model through torch.compile (its compile time is logged apart, as compile_s). The step never
waits for the device: losses are summed there and read back every `log_every` steps.

train() is the loop; below it, its pieces: the step plan, the throughput meter, the steering
(the control file and the λ of a step), the log step, the checkpoint, the failure's status.
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
from dann_core.data.inputs import use_channels_last
from dann_core.data.pairs import load_pair
from dann_core.device import autocast, place, sync
from dann_core.eval.evaluation import evaluate
from dann_core.eval.plane import has_plane, input_plane, plane_axes
from dann_core.methods.build import make_objective, weight_average
from dann_core.methods.modes import adversarial, check_target_labels
from dann_core.methods.schedules import annealed_lr, lambda_at
from dann_core.nn.adabn import adapt_bn
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
    pair = training_pair(cfg)
    test, n_probe = held_out(pair, at.device, cfg.n_probe)
    half = cfg.batch_size // 2
    gen = torch.Generator().manual_seed(cfg.seed * 7919 + at.rank)
    net = build_model(cfg.model, pair.input_shape, pair.n_classes, cfg.mode).to(at.device)
    batches = Batches(pair, at.device, half, gen, cfg.semi_k, use_channels_last(net, at.device, pair.kind),
                      cfg.augment)
    plan = plan_steps(cfg, len(batches.xt if cfg.mode == "target_only" else batches.xs), half * at.world)
    trains_gd = adversarial(cfg.mode)
    model = at.wrap(net, all_parameters_used=trains_gd)  # what the step calls; `net` is what is saved
    model = torch.compile(model) if cfg.compile else model
    opt = make_optimizer(cfg, net.parameters())
    avg = weight_average(cfg, net, at.main)
    objective_at = make_objective(cfg, avg, pair.kind, cfg.seed * 1000 + at.rank)
    eval_net = avg.module if avg else net  # what the checkpoints evaluate and save

    # ---- the stream (rank 0 writes) and the control file
    name = cfg.run_name or stamped_name(cfg)
    run_dir = safe_run_dir(cfg.runs_dir, name)
    start_control = parse_control(Path(cfg.control).read_text()) if cfg.control else {}
    writer = start_stream(cfg, run_dir, name, pair, n_probe, at, net, plan.steps_per_epoch, plan.total_steps,
                          plan.last_step, plan.ckpt_every, start_control) if at.main else None

    # ---- the loop
    t_start = t_step = time.time()
    steering = Steering(cfg, at, plan, ControlPoll(run_dir, start_control), writer, log, t_start)
    log_step = LogStep(writer, plan, trains_gd, cfg.log_every, at.device, t_start)
    checkpoint = Checkpoint(cfg, pair, test, n_probe, eval_net, batches.xt, writer, plan, t_start)
    step, last_eval = 0, {}
    bar = progress_bar(plan.last_step, name, on=at.main and progress)
    reached_end = False  # without an exception: then every rank meets the others before the process group closes
    try:
        if at.main:  # a λ set by hand before the start (--control, or the dashboard's file) counts from step 0
            lam, lam_source = steering.lambda_for(steering.poll(0), 0.0)
            knobs = {"lambda": lam, "lambda_source": lam_source, "lr": cfg.lr}  # what a step trains with
            last_eval = checkpoint(0, knobs)
            writer.set_status("running", step=0, progress=0.0)
        meter = Throughput(at.device, compiling=cfg.compile)  # from here: evaluation time is not throughput
        while not plan.done(step):
            # -- control: rank 0 reads the file, every rank follows
            ctl = steering.follow(step)
            if ctl.get("stop"):
                break
            if ctl.get("paused"):
                steering.pause(step)
                continue

            # -- schedules (p = progress), or a live λ from the control file
            p = min(step / plan.total_steps, 1.0)  # past the end (a run until stopped): the schedules hold
            lam, lam_source = steering.lambda_of_step(step, p)
            lr = set_lr(opt, cfg, p)
            net.grl.lambd = lam  # λ only scales the gradient reaching G_f; G_d learns at full rate
            knobs = {"lambda": lam, "lambda_source": lam_source, "lr": lr}

            # -- one step
            b = batches.next(semi=cfg.mode == "semi")
            label_loss, domain_loss, dom_correct = train_step(model, objective_at(p), opt, b, at.device, cfg.amp)
            if avg is not None:
                avg.update()
            step += 1
            log_step.add(label_loss, domain_loss, dom_correct)  # on the device: no host sync here
            meter.count(len(b.xs) + len(b.xt) if trains_gd else half)
            bar.update(1)
            t_step = pace(t_step, cfg.pace)

            # -- stream: metrics, evaluation + checkpoint
            if at.main and plan.due(step, cfg.log_every):
                log_step(step, knobs, meter)
                tgt = last_eval.get("target_acc")  # none without target labels
                bar.set_postfix(tgt="n/a" if tgt is None else f"{tgt:.3f}", lam=f"{lam:.2f}")
            if at.main and plan.due(step, plan.ckpt_every):
                last_eval = checkpoint(step, knobs)
                meter.restart()  # evaluation time is not training throughput
        state = "stopped" if steering.control.get("stop") else "finished"
        if at.main:
            if writer.steps[-1] != step:  # stopped between checkpoints
                last_eval = checkpoint(step, knobs)
            writer.set_status(state, step=step, progress=step / plan.total_steps, **last_eval)
        reached_end = True
    except (KeyboardInterrupt, Exception) as e:
        if at.main:
            mark_ended(writer, e, step, plan, log)
        raise
    finally:
        bar.close()
        if writer is not None:
            writer.close()
        model = None  # under torchrun the DDP wrapper holds the process group: let it go first (device.py)
        at.close(barrier=reached_end)  # a failing rank does not wait: its peers may never come

    return {"run": name, "run_dir": run_dir, "state": state, "steps": step, "rank": at.rank,
            **{k: last_eval.get(k) for k in SUMMARY_KEYS}, "seconds": time.time() - t_start,
            "compile_s": meter.compile_s}


# the last evaluation's figures in train()'s summary
SUMMARY_KEYS = ("source_acc", "target_acc", "domain_err", "linear_domain_err", "linear_domain_err_hidden",
                "knn_agreement", "knn_agreement_hidden", "centroid_agreement_mean", "target_entropy", "class_prop_tv",
                "cond_domain_err_mean")


def make_optimizer(cfg, params):
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def set_lr(opt, cfg, p):
    """The learning rate at progress p (the paper's μ_p when annealed), set on the optimiser."""
    lr = annealed_lr(p, cfg.lr) if cfg.lr_schedule == "anneal" else cfg.lr
    for g in opt.param_groups:
        g["lr"] = lr
    return lr


def training_pair(cfg):
    """The run's pair, refused in one line where the mode needs target labels it lacks or the
    augmentation needs images."""
    pair = load_pair(cfg.pair, cfg.seed, cfg.data_root, cfg.image_size, cfg.target_labels)
    check_target_labels(cfg.mode, pair.y("target_train") is not None, cfg.pair)
    if cfg.augment != "none" and pair.kind != "image":
        raise ValueError(f"augment {cfg.augment!r} deforms images; pair {cfg.pair!r} holds points (use --augment none)")
    return pair


def held_out(pair, device, n_probe):
    """What the checkpoints evaluate on: the test splits on the device (source x, y, target x, y; the
    target's y None without target labels), and how many samples of each the probe keeps (`n_probe`
    at most)."""
    dev = lambda a: None if a is None else torch.from_numpy(a).to(device)
    test = [dev(pair.x("source_test")), dev(pair.y("source_test")), dev(pair.x("target_test")),
            dev(pair.y("target_test"))]
    return test, min(n_probe, len(pair.x("source_test")), len(pair.x("target_test")))


def probe_labels(pair, n_probe):
    """The probe rows' labels: the source rows', then the target rows' where the pair has target labels
    (else the array stops after the source rows: docs/stream.md)."""
    rows = [pair.y("source_test")[:n_probe]] + ([pair.y("target_test")[:n_probe]] if pair.target_labelled else [])
    return np.concatenate(rows)


def stamped_name(cfg):
    """A run's name when none is given: pair, mode, seed, start time, and the process id's last 4 digits."""
    return f"{cfg.pair}-{cfg.mode}-s{cfg.seed}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid() % 10000:04d}"


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


def pace(t_step, steps_per_s):
    """Sleep off what is left of this step's share of a second at `steps_per_s` steps a second (0: no
    pace); the time the next step's share counts from."""
    if not steps_per_s:
        return t_step
    t_step = max(t_step + 1.0 / steps_per_s, time.time() - 1.0)
    time.sleep(max(0.0, t_step - time.time()))
    return t_step


@dataclasses.dataclass(frozen=True)
class StepPlan:
    """How many steps a run takes, and when it checkpoints."""
    steps_per_epoch: int
    total_steps: int  # the schedules' end: progress p = step / total_steps
    last_step: int | None  # the step it stops at; None: a run that goes on until stopped
    ckpt_every: int

    def done(self, step):
        return self.last_step is not None and step >= self.last_step

    def due(self, step, every):
        """A step that writes a record every `every` steps, or the last step."""
        return step % every == 0 or step == self.last_step

    def where(self, step):
        """The fields a record of `step` starts with."""
        return {"step": step, "epoch": step / self.steps_per_epoch, "progress": step / self.total_steps}


def plan_steps(cfg, n_train, per_step):
    """The plan of a run over `n_train` training samples, `per_step` of them a step (all ranks together)."""
    steps_per_epoch = max(1, n_train // per_step)
    total_steps = max(1, int(round(cfg.epochs * steps_per_epoch)))
    last_step = (cfg.max_steps or None) if cfg.until_stopped else min(total_steps, cfg.max_steps or total_steps)
    ckpt_every = -(-(last_step or total_steps) // cfg.evals) if cfg.evals else cfg.ckpt_every or steps_per_epoch
    return StepPlan(steps_per_epoch, total_steps, last_step, ckpt_every)


class Throughput:
    """Training images a second between two log steps. Evaluation time is not throughput (restart
    after one); nor is the first step of a compiled model: that step compiled it, its time is compile_s."""

    def __init__(self, device, compiling=False):
        self.device, self.compiling, self.compile_s = device, compiling, None
        self.restart()

    def restart(self):
        self.imgs, self.t = 0, time.perf_counter()

    def count(self, imgs):
        """`imgs` more trained on (the step is queued on the device, perhaps not run yet)."""
        self.imgs += imgs
        if self.compiling:
            sync(self.device)
            self.compile_s, self.compiling = time.perf_counter() - self.t, False
            self.restart()

    def rate(self, now):
        """Images a second from the last restart to `now` (a time.perf_counter()), and restart there."""
        rate = self.imgs / max(now - self.t, 1e-9)
        self.imgs, self.t = 0, now
        return rate


class Steering:
    """The control file as the loop follows it: rank 0 reads it before every step, every rank follows
    what it says (stop, pause, a λ set by hand), and the λ of a step comes from it or the schedule."""

    def __init__(self, cfg, at, plan, control, writer, log, t_start):
        self.cfg, self.at, self.plan, self.file, self.writer, self.log = cfg, at, plan, control, writer, log
        self.trains_gd, self.t_start = adversarial(cfg.mode), t_start
        self.control = {}  # what this rank follows
        self.hand = None  # the λ set by hand last logged as an event

    def poll(self, step):
        """Rank 0 reads the control file (a corrupt one is logged once, and the last valid one kept);
        the other ranks keep theirs until the broadcast."""
        polled, err = self.file.poll() if self.at.main else (self.file.control, None)
        if err:
            self.writer.log({"step": step, "warning": f"{err}; ignored, keeping the last valid control"})
            self.log(f"warning: {err}; ignored")
        return polled

    def follow(self, step):
        """The control every rank follows from `step` (under torchrun, from the next multiple of
        log_every: telling the other ranks waits for the device)."""
        polled = self.poll(step)
        if not self.at.distributed or step % self.cfg.log_every == 0:
            self.control = self.at.broadcast(polled)
        return self.control

    def pause(self, step):
        if self.at.main:
            self.writer.set_status("paused", step=step, progress=step / self.plan.total_steps)
        time.sleep(0.2)

    def lambda_for(self, ctl, p):
        """The λ a step uses and its source: the control file's (set by hand), else the schedule's at
        progress p; 0 where no G_d is trained."""
        cfg = self.cfg
        lam, source = ((float(ctl["lambda"]), "control") if ctl.get("lambda") is not None else
                       (lambda_at(p, cfg.lambda_schedule, cfg.lambda_max, cfg.gamma), "schedule"))
        return (lam if self.trains_gd else 0.0), source

    def lambda_of_step(self, step, p):
        """lambda_for the control followed. A λ set by hand is logged the step it takes effect (and when
        the schedule takes over again): a change undone within log_every steps is on record too."""
        lam, source = self.lambda_for(self.control, p)
        hand = self.control.get("lambda") if self.trains_gd else None
        if self.at.main and hand != self.hand:
            self.writer.log({"step": step, "event": "lambda", "lambda": lam, "lambda_source": source,
                             "control_seq": self.control.get("seq"), "time": time.time() - self.t_start})
        self.hand = hand
        return lam, source


class LogStep:
    """Rank 0's record every log_every steps: the losses averaged since the last one (NaN or inf fails
    the run), λ and lr, throughput; and status.json at most every STATUS_EVERY_S."""

    def __init__(self, writer, plan, trains_gd, log_every, device, t_start):
        self.writer, self.plan, self.trains_gd, self.log_every = writer, plan, trains_gd, log_every
        self.t_start, self.t_status = t_start, 0.0
        self.device = device
        self.sums = torch.zeros(4, device=device)  # label loss, domain loss, domain correct, count

    def add(self, label_loss, domain_loss, dom_correct):
        """A step's losses, summed on the device: the step never waits for it (read back at a log step)."""
        with torch.no_grad():
            self.sums += torch.stack([label_loss.detach(), domain_loss.detach(), dom_correct.detach(),
                                      torch.ones((), device=self.device)])

    def __call__(self, step, knobs, meter):
        s = (self.sums / self.sums[3]).tolist()
        self.sums.zero_()
        if not all(math.isfinite(v) for v in s[:2]):
            raise TrainingFailed(f"loss became NaN/inf by step {step} (label {s[0]}, domain {s[1]}); "
                                 "try a lower --lr or --lambda-max")
        now = time.perf_counter()
        gd, compile_s = self.trains_gd, meter.compile_s
        self.writer.log({**self.plan.where(step), **knobs, "label_loss": s[0], "domain_loss": s[1] if gd else None,
                         "domain_acc_batch": s[2] if gd else None, "img_per_s": meter.rate(now),
                         "time": time.time() - self.t_start,
                         **({"compile_s": compile_s} if compile_s is not None and step <= self.log_every else {})})
        if now - self.t_status >= STATUS_EVERY_S:  # nothing next to a CPU step; a lot next to a GPU one
            self.writer.set_status("running", step=step, progress=step / self.plan.total_steps)
            self.t_status = now


class Checkpoint:
    """Rank 0's evaluation of the net the checkpoints evaluate, on the held-out `test` tensors: its
    record in the metrics, and the checkpoint (weights, the probe rows' features). Returns the metrics."""

    def __init__(self, cfg, pair, test, n_probe, eval_net, target_x, writer, plan, t_start):
        self.cfg, self.kind, self.test, self.n_probe, self.eval_net = cfg, pair.kind, test, n_probe, eval_net
        self.target_x, self.writer, self.plan, self.t_start = target_x, writer, plan, t_start
        self.y = probe_labels(pair, n_probe)
        self.domain = np.repeat(np.array([0, 1], np.int64), n_probe)
        self.trains_gd = adversarial(cfg.mode)
        # a pair of points: each checkpoint keeps the input plane's grid over the probe points
        self.plane = plane_axes(np.concatenate([pair.x("source_test")[:n_probe], pair.x("target_test")[:n_probe]])) \
            if has_plane(pair.input_shape) else None

    def __call__(self, step, knobs):
        net, cfg = self.eval_net, self.cfg
        target_net = adapt_bn(net, self.target_x, self.kind) if cfg.adabn else None  # a copy: training goes on
        xs, ys, xt, yt = self.test
        m, probe = evaluate(net, xs, ys, xt, yt=yt, kind=self.kind, n_probe=self.n_probe, target_model=target_net,
                            amp=cfg.amp, trained_domain=self.trains_gd)
        if self.plane is not None:
            probe.update(input_plane(net, self.plane, self.kind, self.trains_gd, amp=cfg.amp))
        self.writer.log({**self.plan.where(step), **knobs, **m, "time": time.time() - self.t_start, "eval": True})
        self.writer.write_checkpoint(step, net.state_dict(), y=self.y, domain=self.domain,
                                     lambd=np.float32(knobs.get("lambda", 0)), **probe)
        return m


def mark_ended(writer, e, step, plan, log):
    """status.json after exception `e`: "stopped" for an interrupt, else "failed", with a one-line reason."""
    interrupted = isinstance(e, KeyboardInterrupt)
    state = "stopped" if interrupted else "failed"
    why = "interrupted" if interrupted else \
        str(e) if isinstance(e, (TrainingFailed, WriteFailed)) else f"{type(e).__name__}: {e}"
    try:  # a full disk can refuse this too: readers then see the run as dead
        writer.set_status(state, step=step, progress=step / plan.total_steps, error=why)
    except OSError as e2:
        log(f"warning: could not mark the run {state} in status.json ({e2})")


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
        "target_labels": pair.target_labelled,
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
                       y=probe_labels(pair, n_probe),
                       domain=np.repeat(np.array([0, 1], np.int64), n_probe), kind=np.array(pair.kind))
    return writer


def progress_bar(total, name, on=True):
    """A tqdm bar on stderr; off (its calls do nothing) unless `on`."""
    from tqdm import tqdm
    return tqdm(total=total, desc=name, unit="step", file=sys.stderr, dynamic_ncols=True, disable=not on)
