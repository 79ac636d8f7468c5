"""The DANN training loop, top to bottom (Ganin & Lempitsky 2015, Algorithm 1).

Each step: half a batch of labelled source, half a batch of unlabelled target.
    label loss   CE(G_y(G_f(x_s)), y_s)                        trains G_f and G_y
    domain loss  BCE(G_d(GRL_lambda(G_f(x))), d), d = 0 / 1     trains G_d, and through the
                                                               GRL pushes G_f the other way
Modes: dann; source_only (no target, no domain loss); target_only (the oracle: trained on
target labels); semi (dann plus the labels of `semi_k` fixed target samples).

While it trains it streams into a run directory (see stream.py): metrics every `log_every`
steps, an evaluation plus a checkpoint with the probe features every `ckpt_every` steps,
and it reads control.json between steps (set lambda, pause, stop). Options: `augment`
deforms the source batch (augment.py); `ema` > 0 makes the checkpoints evaluate and save a
moving average of the weights (averaging.py) instead of the raw ones.

Under torchrun (WORLD_SIZE > 1) it wraps the model in DistributedDataParallel; rank 0
alone evaluates and writes the stream, and broadcasts the control to the other ranks.
"""
import dataclasses
import math
import os
import platform
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import __version__
from .augment import KINDS as AUGMENTS, augment
from .averaging import WeightAverage
from .inference import forward_all, to_input, use_channels_last
from .metrics import linear_domain_error
from .models import build_model
from .pairs import get_spec, load_pair
from .schedules import annealed_lr, lambda_at
from .stream import RunWriter, read_control, safe_run_dir

MODES = ("dann", "source_only", "target_only", "semi")


@dataclass
class Config:
    pair: str = "mnist-mnistm"
    mode: str = "dann"
    seed: int = 0
    # None: take the pair's default (pairs.py registry)
    model: str = None
    epochs: float = None
    batch_size: int = None          # total; half source, half target
    optimizer: str = None           # "sgd" (momentum 0.9, the paper) or "adam"
    lr: float = None
    lr_schedule: str = None         # "anneal": lr/(1+10p)^0.75 (paper) or "constant"
    lambda_schedule: str = None     # "paper": lambda_max*(2/(1+exp(-10p))-1) or "constant"
    lambda_max: float = None
    gamma: float = 10.0
    momentum: float = 0.9
    weight_decay: float = 0.0
    semi_k: int = 100               # labelled target samples in mode "semi"
    augment: str = None             # source images: "none", "affine" or "elastic" (augment.py)
    ema: float = None               # >0: checkpoints evaluate a moving average of the weights with
                                    # this decay per step (averaging.py); 0: the raw weights
    max_steps: int = 0              # >0: stop early (quick runs); progress still counts to the end
    pace: float = 0.0               # >0: at most this many steps a second (a run a person can watch
                                    # and steer; it leaves the CPU to the dashboard); 0: full speed
    # streaming
    runs_dir: str = "runs"
    run_name: str = None
    log_every: int = 10
    ckpt_every: int = None          # steps between evaluation + checkpoint; default once an epoch
    evals: int = 0                  # >0: instead, this many evaluations + checkpoints, evenly spread
    n_probe: int = None             # probe points per domain
    keep_weights: str = "all"       # "all" or "last"
    control: str = None             # a control file to start from (lambda / paused / stop)
    # machine
    device: str = "auto"
    threads: int = 0                # CPU threads; 0: all cores
    data_root: str = None


class TrainingFailed(RuntimeError):
    pass


def resolve(cfg):
    """Fill the None fields from the pair's defaults and check every value."""
    spec = get_spec(cfg.pair)
    base = dict(model=None, epochs=20, batch_size=128, optimizer="sgd", lr=0.01, lr_schedule="anneal",
                lambda_schedule="paper", lambda_max=1.0, ckpt_every=None, n_probe=500,
                augment="none", ema=0.0)
    base.update(spec.defaults)
    cfg = dataclasses.replace(cfg, **{k: v for k, v in base.items()
                                      if k in Config.__dataclass_fields__ and getattr(cfg, k) is None})
    checks = [
        (cfg.mode in MODES, f"mode must be one of {', '.join(MODES)}"),
        (cfg.optimizer in ("sgd", "adam"), "optimizer must be 'sgd' or 'adam'"),
        (cfg.lr_schedule in ("anneal", "constant"), "lr_schedule must be 'anneal' or 'constant'"),
        (cfg.lambda_schedule in ("paper", "constant"), "lambda_schedule must be 'paper' or 'constant'"),
        (cfg.keep_weights in ("all", "last"), "keep_weights must be 'all' or 'last'"),
        (0.0 <= cfg.ema < 1.0, "ema must be in [0, 1) (0: off)"),
        (cfg.augment in AUGMENTS, f"augment must be one of {', '.join(AUGMENTS)}"),
        (cfg.epochs > 0, "epochs must be > 0"),
        (cfg.batch_size >= 2 and cfg.batch_size % 2 == 0, "batch_size must be an even number >= 2"),
        (cfg.lr > 0 and math.isfinite(cfg.lr), "lr must be a positive number"),
        (cfg.lambda_max >= 0 and math.isfinite(cfg.lambda_max), "lambda_max must be >= 0"),
        (cfg.log_every >= 1, "log_every must be >= 1"),
        (cfg.ckpt_every is None or cfg.ckpt_every >= 1, "ckpt_every must be >= 1"),
        (cfg.evals >= 0, "evals must be >= 0"),
        (cfg.n_probe >= 4, "n_probe must be >= 4"),
        (cfg.semi_k >= 1, "semi_k must be >= 1"),
        (cfg.max_steps >= 0, "max_steps must be >= 0"),
        (cfg.pace >= 0 and math.isfinite(cfg.pace), "pace must be a number of steps a second >= 0 (0: full speed)"),
        (cfg.threads >= 0, "threads must be >= 0"),
    ]
    for ok, msg in checks:
        if not ok:
            raise ValueError(msg)
    return cfg


def pick_device(name="auto"):
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for, but torch sees no CUDA GPU here")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' asked for, but it is not available here")
    return dev


def default_run_name(cfg):
    return f"{cfg.pair}-{cfg.mode}-s{cfg.seed}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid() % 10000:04d}"


@torch.no_grad()
def evaluate(model, xs, ys, xt, yt, kind, n_probe):
    """Accuracy on held-out source and target, G_d's held-out error, and the probe rows."""
    fs, ps, ds = forward_all(model, xs, kind)
    ft, pt, dt = forward_all(model, xt, kind)
    metrics = {
        "source_acc": (ps.argmax(1) == ys).float().mean().item(),
        "target_acc": (pt.argmax(1) == yt).float().mean().item(),
        # G_d says "target" when sigmoid > 0.5; its error over both held-out sets
        "domain_err": ((ds > 0.5).float().sum() + (dt <= 0.5).float().sum()).item() / (len(ds) + len(dt)),
    }
    probe = {
        # float16 halves the disk; clipped to its range so large activations stay finite, not inf
        "features": np.clip(torch.cat([fs[:n_probe], ft[:n_probe]]).cpu().numpy(), -65504, 65504).astype(np.float16),
        "class_prob": torch.cat([ps[:n_probe], pt[:n_probe]]).cpu().numpy().astype(np.float16),
        "domain_prob": torch.cat([ds[:n_probe], dt[:n_probe]]).cpu().numpy().astype(np.float32),
    }
    probe["pred"] = probe["class_prob"].argmax(1).astype(np.int64)
    metrics["linear_domain_err"] = linear_domain_error(fs[:n_probe].cpu().numpy(), ft[:n_probe].cpu().numpy())
    return metrics, probe


def train(cfg, progress=False, log=print):
    cfg = resolve(cfg)

    # ---- distributed (torchrun) and device
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        import torch.distributed as dist
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if cfg.device in ("auto", "cuda") and torch.cuda.is_available():
            torch.cuda.set_device(local)
            device = torch.device("cuda", local)
        else:
            device = pick_device("cpu" if cfg.device == "auto" else cfg.device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    else:
        device = pick_device(cfg.device)
    if device.type == "cpu":
        # deliberate: the trainer owns the cores it is given; oversubscription ran 20x slower here
        torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
    main = rank == 0
    torch.manual_seed(cfg.seed * 1000 + rank)
    np.random.seed(cfg.seed)

    # ---- data: the whole pair lives on the device as uint8; batches are indexed there
    pair = load_pair(cfg.pair, cfg.seed, cfg.data_root)
    if cfg.augment != "none" and pair.kind != "image":
        raise ValueError(f"augment {cfg.augment!r} deforms images; pair {cfg.pair!r} holds points (use --augment none)")
    dev = lambda a: torch.from_numpy(a).to(device)
    xs_tr, ys_tr = dev(pair.x("source_train")), dev(pair.y("source_train"))
    xt_tr, yt_tr = dev(pair.x("target_train")), dev(pair.y("target_train"))
    xs_te, ys_te = dev(pair.x("source_test")), dev(pair.y("source_test"))
    xt_te, yt_te = dev(pair.x("target_test")), dev(pair.y("target_test"))
    n_probe = min(cfg.n_probe, len(ys_te), len(yt_te))
    half = cfg.batch_size // 2
    n_main = len(yt_tr) if cfg.mode == "target_only" else len(ys_tr)
    steps_per_epoch = max(1, n_main // (half * world))  # under DDP each rank sees its own batches
    total_steps = max(1, int(round(cfg.epochs * steps_per_epoch)))
    last_step = min(total_steps, cfg.max_steps) if cfg.max_steps else total_steps
    ckpt_every = -(-last_step // cfg.evals) if cfg.evals else cfg.ckpt_every or steps_per_epoch
    gen = torch.Generator().manual_seed(cfg.seed * 7919 + rank)
    semi_idx = torch.randperm(len(yt_tr), generator=gen)[:cfg.semi_k].to(device)

    # ---- model and optimiser
    net = build_model(cfg.model, pair.input_shape, pair.n_classes).to(device)
    cl = use_channels_last(net, device, pair.kind)
    model = net
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        model = DDP(net, device_ids=[device.index] if device.type == "cuda" else None,
                    find_unused_parameters=cfg.mode in ("source_only", "target_only"))
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    # what the checkpoints evaluate and save: the net, or the moving average of its weights
    avg = WeightAverage(net, cfg.ema) if cfg.ema and main else None
    eval_net = avg.module if avg else net

    # ---- run directory (rank 0 only writes)
    name = cfg.run_name or default_run_name(cfg)
    run_dir = safe_run_dir(cfg.runs_dir, name)
    writer = None
    control = {}
    if cfg.control:
        with open(cfg.control) as f:
            from .stream import parse_control
            control = parse_control(f.read())
    if main:
        os.makedirs(run_dir, exist_ok=True)
        writer = RunWriter(run_dir)
        if cfg.control:
            from .stream import atomic_write_json
            atomic_write_json(os.path.join(run_dir, "control.json"), control)
        else:
            read_control(run_dir)  # an existing corrupt control file fails here, before any work
        writer.write_manifest({
            "name": name, "config": dataclasses.asdict(cfg), "pair": cfg.pair, "mode": cfg.mode,
            "model": cfg.model, "seed": cfg.seed, "kind": pair.kind, "input_shape": list(pair.input_shape),
            "n_classes": pair.n_classes, "sizes": pair.sizes(), "n_probe": n_probe,
            "steps_per_epoch": steps_per_epoch, "total_steps": total_steps, "last_step": last_step,
            "ckpt_every": ckpt_every, "device": str(device), "world_size": world,
            "n_params": sum(p.numel() for p in net.parameters()),
            "versions": {"dann_core": __version__, "python": platform.python_version(),
                         "torch": torch.__version__, "numpy": np.__version__},
            "argv": sys.argv, "started": time.time(),
            "started_iso": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
        writer.set_status("starting", step=0, progress=0.0)
        probe_x = np.concatenate([pair.x("source_test")[:n_probe], pair.x("target_test")[:n_probe]])
        writer.write_probe(x=probe_x, y=np.concatenate([pair.y("source_test")[:n_probe],
                                                        pair.y("target_test")[:n_probe]]),
                           domain=np.repeat(np.array([0, 1], np.int64), n_probe),
                           kind=np.array(pair.kind))

    def checkpoint(step, extra):
        """Evaluate on the held-out sets, log it, and write the probe features + weights."""
        m, probe = evaluate(eval_net, xs_te, ys_te, xt_te, yt_te, pair.kind, n_probe)
        rec = {"step": step, "epoch": step / steps_per_epoch, "progress": step / total_steps, **extra, **m,
               "time": time.time() - t_start, "eval": True}
        writer.log(rec)
        prev = writer_ckpts[-1] if writer_ckpts else None
        writer.write_checkpoint(step, eval_net.state_dict(), y=np.concatenate(
            [pair.y("source_test")[:n_probe], pair.y("target_test")[:n_probe]]),
            domain=np.repeat(np.array([0, 1], np.int64), n_probe), lambd=np.float32(extra.get("lambda", 0)),
            **probe)
        writer_ckpts.append(step)
        if cfg.keep_weights == "last" and prev is not None and prev != step:
            try:
                os.remove(os.path.join(run_dir, "checkpoints", f"ckpt_{prev:08d}.pt"))
            except OSError:
                pass
        return m

    # ---- the loop
    t_start = time.time()
    writer_ckpts = []
    state = "running"
    step = 0
    lam, lam_source, lr = 0.0, "schedule", cfg.lr
    sums = torch.zeros(4, device=device)  # label loss, domain loss, domain correct, count
    last_eval = {}
    imgs, t_log = 0, time.perf_counter()
    t_step = time.perf_counter()  # the paced step clock (cfg.pace)
    bar = None
    if main and progress:
        from tqdm import tqdm
        bar = tqdm(total=last_step, desc=name, unit="step", file=sys.stderr, dynamic_ncols=True)
    try:
        if main:
            last_eval = checkpoint(0, {"lambda": lambda_at(0.0, cfg.lambda_schedule, cfg.lambda_max, cfg.gamma),
                                       "lr": cfg.lr})
            writer.set_status("running", step=0, progress=0.0)
        src_perm = torch.randperm(len(ys_tr), generator=gen).to(device)
        tgt_perm = torch.randperm(len(yt_tr), generator=gen).to(device)
        s_ptr = t_ptr = 0
        while step < last_step:
            # -- control: rank 0 reads the file, everyone follows
            if main:
                ctl, err = writer.poll_control()
                if err:
                    writer.log({"step": step, "warning": f"{err}; ignored, keeping the last valid control"})
                    log(f"warning: {err}; ignored")
                control = ctl
            if world > 1:
                box = [control]
                torch.distributed.broadcast_object_list(box, src=0)
                control = box[0]
            if control.get("stop"):
                state = "stopped"
                break
            if control.get("paused"):
                if main:
                    writer.set_status("paused", step=step, progress=step / total_steps)
                time.sleep(0.2)
                continue

            # -- schedules (p = progress), or a live override from the control file
            p = step / total_steps
            if control.get("lambda") is not None:
                lam, lam_source = float(control["lambda"]), "control"
            else:
                lam, lam_source = lambda_at(p, cfg.lambda_schedule, cfg.lambda_max, cfg.gamma), "schedule"
            if cfg.mode not in ("dann", "semi"):
                lam = 0.0
            lr = annealed_lr(p, cfg.lr) if cfg.lr_schedule == "anneal" else cfg.lr
            for g in opt.param_groups:
                g["lr"] = lr
            net.grl.lambd = lam  # lambda only scales the gradient reaching G_f; G_d learns at full rate

            # -- batches: half source, half target, each domain cycling through its own permutation
            if s_ptr + half > len(src_perm):
                src_perm, s_ptr = torch.randperm(len(ys_tr), generator=gen).to(device), 0
            if t_ptr + half > len(tgt_perm):
                tgt_perm, t_ptr = torch.randperm(len(yt_tr), generator=gen).to(device), 0
            si, ti = src_perm[s_ptr:s_ptr + half], tgt_perm[t_ptr:t_ptr + half]
            s_ptr, t_ptr = s_ptr + half, t_ptr + half
            xs, ys = to_input(xs_tr[si], pair.kind, cl), ys_tr[si]
            if cfg.augment != "none":  # the source only: the target stays as it is
                xs = augment(xs, cfg.augment, gen)
                xs = xs.contiguous(memory_format=torch.channels_last) if cl else xs
            xt = to_input(xt_tr[ti], pair.kind, cl)

            # -- forward and losses
            if cfg.mode == "source_only":
                (_, logit_s, _), = model(xs)
                label_loss, domain_loss = F.cross_entropy(logit_s, ys), torch.zeros((), device=device)
                dom_correct = torch.zeros((), device=device)
            elif cfg.mode == "target_only":
                (_, logit_t, _), = model(xt)
                label_loss, domain_loss = F.cross_entropy(logit_t, yt_tr[ti]), torch.zeros((), device=device)
                dom_correct = torch.zeros((), device=device)
            else:
                if cfg.mode == "semi":  # a few of the fixed labelled target samples ride along
                    li = semi_idx[torch.randint(len(semi_idx), (max(1, half // 4),), generator=gen).to(device)]
                    xt = torch.cat([xt, to_input(xt_tr[li], pair.kind, cl)])
                (_, logit_s, dom_s), (_, logit_t, dom_t) = model(xs, xt)
                label_loss = F.cross_entropy(logit_s, ys)
                if cfg.mode == "semi":
                    label_loss = label_loss + F.cross_entropy(logit_t[half:], yt_tr[li])
                # the paper's objective: the mean domain loss of each domain, summed
                domain_loss = (F.binary_cross_entropy_with_logits(dom_s, torch.zeros_like(dom_s))
                               + F.binary_cross_entropy_with_logits(dom_t, torch.ones_like(dom_t)))
                dom_correct = ((dom_s <= 0).float().sum() + (dom_t > 0).float().sum()) / (len(dom_s) + len(dom_t))
            loss = label_loss + domain_loss

            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if avg is not None:
                avg.update()
            step += 1
            if cfg.pace:  # sleep off what is left of this step's share of a second
                t_step = max(t_step + 1.0 / cfg.pace, time.perf_counter() - 1.0)
                time.sleep(max(0.0, t_step - time.perf_counter()))
            imgs += len(xs) + len(xt) if cfg.mode in ("dann", "semi") else half
            with torch.no_grad():  # accumulate on the device: no host sync per step
                sums += torch.stack([label_loss.detach(), domain_loss.detach(), dom_correct.detach(),
                                     torch.ones((), device=device)])
            if bar is not None:
                bar.update(1)

            # -- stream: metrics, evaluation + checkpoint
            if main and (step % cfg.log_every == 0 or step == last_step):
                s = (sums / sums[3]).tolist()
                sums.zero_()
                if not all(math.isfinite(v) for v in s[:2]):
                    raise TrainingFailed(f"loss became NaN/inf by step {step} (label {s[0]}, domain {s[1]}); "
                                         "try a lower --lr or --lambda-max")
                now = time.perf_counter()
                writer.log({"step": step, "epoch": step / steps_per_epoch, "progress": step / total_steps,
                            "lambda": lam, "lambda_source": lam_source, "lr": lr, "label_loss": s[0],
                            "domain_loss": s[1] if cfg.mode in ("dann", "semi") else None,
                            "domain_acc_batch": s[2] if cfg.mode in ("dann", "semi") else None,
                            "img_per_s": imgs / max(now - t_log, 1e-9), "time": time.time() - t_start})
                imgs, t_log = 0, now
                writer.set_status("running", step=step, progress=step / total_steps)
                if bar is not None and last_eval:
                    bar.set_postfix(tgt=f"{last_eval['target_acc']:.3f}", lam=f"{lam:.2f}")
            if main and (step % ckpt_every == 0 or step == last_step):
                last_eval = checkpoint(step, {"lambda": lam, "lambda_source": lam_source, "lr": lr})
                imgs, t_log = 0, time.perf_counter()  # evaluation time is not training throughput

        state = "stopped" if state == "stopped" else "finished"
        if main:
            if not writer_ckpts or writer_ckpts[-1] != step:
                last_eval = checkpoint(step, {"lambda": lam, "lambda_source": lam_source, "lr": lr})
            writer.set_status(state, step=step, progress=step / total_steps, **last_eval)
    except KeyboardInterrupt:
        if main:
            writer.set_status("stopped", step=step, progress=step / total_steps, error="interrupted")
        raise
    except TrainingFailed as e:
        if main:
            writer.set_status("failed", step=step, progress=step / total_steps, error=str(e))
        raise
    except Exception as e:
        if main:
            writer.set_status("failed", step=step, progress=step / total_steps,
                              error=f"{type(e).__name__}: {e}")
        raise
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
        if world > 1:
            torch.distributed.destroy_process_group()

    return {"run": name, "run_dir": run_dir, "state": state, "steps": step, "rank": rank,
            "source_acc": last_eval.get("source_acc"), "target_acc": last_eval.get("target_acc"),
            "domain_err": last_eval.get("domain_err"), "linear_domain_err": last_eval.get("linear_domain_err"),
            "seconds": time.time() - t_start}
