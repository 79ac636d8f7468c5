"""Command line: `dann {train,pairs,control,reproduce,sweep,validators,dashboard} ...`.

Bad input (arguments, pair, control file, runs directory) ends with one line on stderr
and exit code 2, never a traceback. A run that fails while training exits 1.
"""
import argparse
import dataclasses
import os
import sys


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _fail(msg, code=2):
    print(f"dann: error: {msg}", file=sys.stderr)
    return code


def _parser(light=False):
    """`light`: for `dann control`, which must answer at once: the other commands' options are left
    out, since their choices (networks, augmentations) import torch (~6 s)."""
    p = _Parser(prog="dann", description="Domain-adversarial training that streams to a run directory.")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    if not light:
        _other_parsers(sub)
    else:
        for name in ("train", "pairs", "reproduce", "sweep", "validators", "dashboard"):
            sub.add_parser(name)

    c = sub.add_parser("control", help="steer a running trainer through its control file")
    c.add_argument("run_dir")
    g = c.add_mutually_exclusive_group(required=True)
    g.add_argument("--lambda", dest="lambd", type=float, help="set lambda from now on (overrides the schedule)")
    g.add_argument("--schedule", action="store_true", help="drop a lambda override: follow the schedule again")
    g.add_argument("--pause", action="store_true")
    g.add_argument("--resume", action="store_true")
    g.add_argument("--stop", action="store_true")
    return p


def _other_parsers(sub):
    """train, pairs, reproduce, sweep, validators and dashboard, with their options."""
    from dann_core.data.augment import KINDS as AUGMENTS
    from dann_core.experiments.reproduce import OPTIONAL
    from dann_core.experiments.sweep import DEFAULT_RULE, rules
    from dann_core.experiments.validator_sweeps import DEFAULT_LAMBDAS, DEFAULT_PAIRS, DEFAULT_SEEDS
    from dann_core.methods.modes import ADVERSARIAL, MODES
    from dann_core.nn.models import MODELS
    t = sub.add_parser("train", help="train one run", description=(
        "Train a run. Options left out take the pair's defaults (`dann pairs`)."))
    t.add_argument("--pair", default="mnist-mnistm", help="source->target pair (default: %(default)s)")
    t.add_argument("--mode", default="dann", choices=MODES)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--model", help=f"network from the registry ({', '.join(MODELS)})")
    t.add_argument("--epochs", type=float)
    t.add_argument("--batch-size", type=int, help="total per step: half source, half target")
    t.add_argument("--optimizer", choices=("sgd", "adam"))
    t.add_argument("--lr", type=float)
    t.add_argument("--lr-schedule", choices=("anneal", "constant"), help="anneal: lr/(1+10p)^0.75 (paper)")
    t.add_argument("--lambda-schedule", choices=("paper", "constant"),
                   help="paper: lambda_max*(2/(1+exp(-10p))-1); constant: lambda_max throughout")
    t.add_argument("--lambda-max", type=float)
    t.add_argument("--augment", choices=AUGMENTS,
                   help="random geometric augmentation of the source images; --mode mean_teacher: of both "
                        "domains' views (default: the pair's)")
    t.add_argument("--ema", type=float,
                   help="decay of a moving average of the weights that the checkpoints evaluate "
                        "(0: the raw weights; default: the pair's)")
    t.add_argument("--confidence", type=float,
                   help="--mode mean_teacher: the teacher's top probability a target sample must pass to count "
                        "(default: the pair's; the paper's 0.968)")
    t.add_argument("--consistency", type=float, help="--mode mean_teacher: weight of the consistency loss")
    t.add_argument("--class-balance", type=float, help="--mode mean_teacher: weight of the class-balance loss")
    t.add_argument("--noise", type=float, help="--mode mean_teacher: std of the Gaussian noise on each view")
    t.add_argument("--im-weight", type=float,
                   help="--mode im: weight of the information maximisation loss on the target (default: the pair's)")
    t.add_argument("--im-start", type=float,
                   help="--mode im: the share of training, from 0 to 1, before the IM loss starts: DANN alone until "
                        "then (default: the pair's; 0: from the first step)")
    t.add_argument("--adabn", action="store_true",
                   help="evaluate the target with BatchNorm statistics re-estimated on the unlabelled target "
                        "(AdaBN); training is unchanged")
    t.add_argument("--image-size", type=int,
                   help="pair folders: the size images are resized to (default: $DANN_IMAGE_SIZE, else their own "
                        "size up to 64 px with the digits net, else 224 with ResNet-50)")
    t.add_argument("--semi-k", type=int, default=100, help="labelled target samples for --mode semi")
    t.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (quick runs)")
    t.add_argument("--pace", type=float, default=0.0,
                   help="at most this many steps a second: a run to watch and steer live (0: full speed)")
    t.add_argument("--until-stopped", action="store_true",
                   help="train until stopped (`dann control RUN --stop`, or the page's Stop); the schedules run "
                        "over --epochs, then hold their last values")
    t.add_argument("--keep-checkpoints", type=int,
                   help="keep the first and the newest N-1 checkpoints (default: 200 with --until-stopped, else all)")
    t.add_argument("--runs-dir", default="runs")
    t.add_argument("--run-name", help="directory name under --runs-dir (default: pair-mode-seed-time)")
    t.add_argument("--log-every", type=int, default=10)
    t.add_argument("--ckpt-every", type=int, help="steps between evaluation+checkpoint (default: an epoch)")
    t.add_argument("--evals", type=int, default=0, help="instead of --ckpt-every: this many evaluations, evenly spread")
    t.add_argument("--n-probe", type=int, help="probe points per domain")
    t.add_argument("--keep-weights", choices=("all", "last"), default="all")
    t.add_argument("--control", help="a control.json to start from (lambda / paused / stop)")
    t.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    t.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    t.add_argument("--amp", choices=("off", "bf16"), default="off",
                   help="bf16: forward passes under bfloat16 autocast, for GPU speed (default off: fp32)")
    t.add_argument("--compile", action="store_true",
                   help="torch.compile the training step (its compile time is logged apart, as compile_s)")
    t.add_argument("--data-root", help="where downloadable datasets live; pair folders: the folder of your images")
    _target_labels_option(t)
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    pp = sub.add_parser("pairs", help="list the pairs and whether each is available offline")
    pp.add_argument("--data-root", help="where downloadable datasets live (default: $DANN_DATA, else the cache)")

    r = sub.add_parser("reproduce", help="the paper's Table 2 on the embedded pairs: SO, SA, DANN, train-on-target",
                       description="Train source-only, DANN and train-on-target per pair and seed, run "
                                   "Subspace Alignment, and write reproduce.md / reproduce.csv with the share of "
                                   "the gap closed.")
    r.add_argument("--pairs", nargs="+", default=None,
                   help="default: moons mnist-mnistm syndigits-mnist (any pair from `pairs` works)")
    r.add_argument("--seeds", type=int, default=3)
    r.add_argument("--out", default="results", help="where the tables (and runs/) go (default: %(default)s)")
    r.add_argument("--jobs", type=int, help="trainings at once (default: one per core, one thread each; 4 on a GPU)")
    r.add_argument("--epochs", type=float, help="override every pair's default epochs (quick looks)")
    r.add_argument("--data-root", help="where downloadable datasets live; pair folders: the folder of your images")
    r.add_argument("--image-size", type=int, help="pair folders: the size images are resized to (as train's)")
    r.add_argument("--ablation", action="store_true",
                   help="also DANN with lambda = 0: is the gain the gradient reversal's? "
                        "(one more run per pair and seed)")
    r.add_argument("--methods", nargs="+", default=[], choices=OPTIONAL, metavar="METHOD",
                   help=f"optional columns: {', '.join(OPTIONAL)} (cdan, cdan_e, mean_teacher, im: one more "
                        "training each; *_adabn: the same run's network evaluated with AdaBN, no training)")

    w = sub.add_parser("sweep", help="train one pair at several lambda_max values in parallel",
                       description="DANN (or --mode) at several lambda_max; marks the value a label-free rule picks "
                                   f"(--rule, default {DEFAULT_RULE}: docs/validation.md) and records every rule's "
                                   "pick in sweep.json.")
    w.add_argument("--pair", default="moons")
    w.add_argument("--mode", default="dann", choices=ADVERSARIAL, help="the adversarial mode to sweep")
    w.add_argument("--lambdas", type=float, nargs="+", default=[0, 0.1, 0.3, 1, 3])
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--epochs", type=float)
    w.add_argument("--schedule", choices=("paper", "constant"), default="paper")
    w.add_argument("--rule", choices=list(rules()), default=DEFAULT_RULE,
                   help="the label-free rule whose pick the sweep marks (default: %(default)s)")
    w.add_argument("--reverse-validation", action="store_true",
                   help="also train a reverse run per lambda (the target pseudo-labelled -> the source) and score "
                        "it on the source test split: one more rule, reverse_validation (twice the training)")
    _jobs_options(w)
    w.add_argument("--runs-dir", default="runs")
    w.add_argument("--data-root", help="where downloadable datasets live; pair folders: the folder of your images")
    w.add_argument("--image-size", type=int, help="pair folders: the size images are resized to (as train's)")
    _target_labels_option(w)

    v = sub.add_parser("validators", help="measure how well each label-free rule picks lambda and checkpoints",
                       description="DANN lambda sweeps per pair and seed, every label-free rule's picks scored with "
                                   "the target labels: validators.md / validators.csv / seeds.csv under --out.")
    v.add_argument("--pairs", nargs="+", default=list(DEFAULT_PAIRS),
                   help=f"default: {' '.join(DEFAULT_PAIRS)}")
    v.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    v.add_argument("--lambdas", type=float, nargs="+", default=list(DEFAULT_LAMBDAS))
    v.add_argument("--epochs", type=float, help="override every pair's default epochs (quick looks)")
    v.add_argument("--reverse-validation", action="store_true",
                   help="also train a reverse run per sweep run: one more rule (twice the training)")
    _jobs_options(v)
    v.add_argument("--out", default="results/validators", help="where the tables (and runs/) go (default: %(default)s)")
    v.add_argument("--data-root", help="where downloadable datasets live")

    d = sub.add_parser("dashboard", help="start the dashboard (Streamlit) on this machine",
                       description="Runs `streamlit run dashboard/app.py`, listening on localhost only.")
    d.add_argument("--port", type=int, default=8501)
    d.add_argument("--runs-dir",
                   help="the runs to show and start (default: $DANN_RUNS_DIR, else runs/ in the checkout)")
    d.add_argument("--data-root", help="the folder of your images the Start forms offer for the pair folders "
                                       "(and where downloadable datasets live; default: $DANN_DATA)")


def _jobs_options(p):
    p.add_argument("--jobs", type=int, help="runs at once (default: one per core; 4 on a GPU)")
    p.add_argument("--threads", type=int, help="CPU threads per run (default: the cores shared among the jobs)")


def _target_labels_option(p):
    p.add_argument("--target-labels", choices=("known", "none"), default="known",
                   help="none: drop the pair's target labels after loading, as if the target were unlabelled (no "
                        "target accuracy; modes target_only and semi refused); a target folder without class "
                        "folders has none either way")


def cmd_pairs(data_root=None):
    from dann_core.data.pairs import all_specs
    rows = []
    for name, spec in sorted(all_specs().items()):
        try:
            ok, why = spec.offline(data_root)
        except Exception as e:  # an availability check must not break the listing
            ok, why = False, f"{type(e).__name__}: {e}"
        # your own images (spec.fit): what was found there, labelled target or not
        desc = spec.description if ok and spec.fit is None else f"{spec.description} [{why}]"
        rows.append((name, "yes" if ok else "no", spec.sizes, desc))
    w = [max(len(r[i]) for r in rows + [("pair", "offline", "sizes (src tr/te, tgt tr/te)", "")]) for i in range(3)]
    print(f"{'pair':<{w[0]}}  {'offline':<{w[1]}}  {'sizes (src tr/te, tgt tr/te)':<{w[2]}}  description")
    for r in rows:
        print(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}")
    return 0


def cmd_control(a):
    from dann_core.rundir import files
    from dann_core.rundir.control import write_control
    if not os.path.isfile(files.manifest(a.run_dir)):
        return _fail(f"{a.run_dir} is not a run directory (no manifest.json)")
    if a.lambd is not None:
        change = {"lambda": a.lambd}
    elif a.schedule:
        change = {"lambda": None}
    elif a.pause or a.resume:
        change = {"paused": bool(a.pause)}
    else:
        change = {"stop": True}
    try:
        ctl = write_control(a.run_dir, **change)
    except (ValueError, OSError) as e:
        return _fail(str(e))
    print(f"control: {', '.join(f'{k}={v}' for k, v in ctl.items() if k not in ('updated',))}")
    return 0


def cmd_reproduce(a):
    from dann_core.data.pairs import PairError, get_spec
    from dann_core.experiments.reproduce import DEFAULT_PAIRS, reproduce
    if a.seeds < 1 or (a.jobs is not None and a.jobs < 1) or (a.epochs is not None and a.epochs <= 0):
        return _fail("--seeds and --jobs must be >= 1, --epochs > 0")
    if a.image_size is not None and not 8 <= a.image_size <= 1024:
        return _fail("--image-size must be a whole number of pixels from 8 to 1024")
    try:
        pairs = list(dict.fromkeys(a.pairs or DEFAULT_PAIRS))
        for p in pairs:
            get_spec(p)
        _check_runs_dir(a.out)
    except (PairError, OSError) as e:
        return _fail(str(e))
    try:
        reproduce(pairs, a.seeds, a.out, jobs=a.jobs, epochs=a.epochs, data_root=a.data_root, ablation=a.ablation,
                  methods=list(dict.fromkeys(a.methods)), image_size=a.image_size)
    except (ValueError, PairError) as e:
        return _fail(str(e))
    return 0


def _check_counts(a):
    """The counts every training command shares, checked: an error line, or None."""
    if (a.jobs is not None and a.jobs < 1) or (a.epochs is not None and a.epochs <= 0) or (
            a.threads is not None and a.threads < 1):
        return "--jobs and --threads must be >= 1, --epochs > 0"
    return None


def cmd_sweep(a):
    from dann_core.data.pairs import PairError, get_spec
    from dann_core.experiments.sweep import sweep
    from dann_core.rundir.control import ControlError, check_lambda
    if _check_counts(a):
        return _fail(_check_counts(a))
    try:
        for v in a.lambdas:
            check_lambda(v, "--lambdas")
        get_spec(a.pair)
        _check_runs_dir(a.runs_dir)
    except (ControlError, PairError, OSError) as e:
        return _fail(str(e))
    try:  # the pair and every run's settings are checked before the first run starts
        sweep(a.pair, a.lambdas, a.seed, a.runs_dir, a.jobs, a.epochs, a.schedule, mode=a.mode,
              data_root=a.data_root, image_size=a.image_size, target_labels=a.target_labels, rule=a.rule,
              reverse_validation=a.reverse_validation, threads=a.threads)
    except (ValueError, PairError) as e:
        return _fail(str(e))
    return 0


def cmd_validators(a):
    from dann_core.data.pairs import PairError, get_spec
    from dann_core.experiments.validator_sweeps import measure
    from dann_core.rundir.control import ControlError, check_lambda
    if _check_counts(a):
        return _fail(_check_counts(a))
    if any(s < 0 for s in a.seeds):
        return _fail("--seeds must be whole numbers >= 0")
    try:
        for v in a.lambdas:
            check_lambda(v, "--lambdas")
        pairs = list(dict.fromkeys(a.pairs))
        for p in pairs:
            get_spec(p)
        _check_runs_dir(a.out)
    except (ControlError, PairError, OSError) as e:
        return _fail(str(e))
    try:
        measure(pairs, a.seeds, a.lambdas, a.out, epochs=a.epochs, jobs=a.jobs, threads=a.threads,
                reverse_validation=a.reverse_validation, data_root=a.data_root)
    except (ValueError, PairError) as e:  # RunClash too
        return _fail(str(e))
    return 0


def _check_runs_dir(runs_dir):
    try:
        os.makedirs(runs_dir, exist_ok=True)
        probe = os.path.join(runs_dir, f".write-test-{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise OSError(f"cannot write to runs directory {runs_dir!r}: {e.strerror or e}") from None


def cmd_train(a):
    from dann_core.config import Config, resolve
    from dann_core.data.pairs import PairError
    from dann_core.rundir.control import ControlError, parse_control
    from dann_core.rundir.writer import WriteFailed
    from dann_core.train import TrainingFailed, train
    fields = {f.name for f in dataclasses.fields(Config)}
    cfg = Config(**{k: v for k, v in vars(a).items() if k in fields})
    # everything a user can get wrong is checked before any work starts
    try:
        cfg = resolve(cfg)
        _check_runs_dir(cfg.runs_dir)
        if cfg.control:
            try:
                with open(cfg.control) as f:
                    parse_control(f.read())
            except OSError as e:
                raise ControlError(f"cannot read control file {cfg.control!r}: {e.strerror}") from None
    except (ValueError, PairError, ControlError, OSError) as e:
        return _fail(str(e))
    try:
        s = train(cfg, progress=not a.no_progress, log=lambda m: print(m, file=sys.stderr))
    except (ValueError, ControlError) as e:  # e.g. an unusable --device, a corrupt control.json in the run dir
        return _fail(str(e))
    except (TrainingFailed, WriteFailed) as e:  # WriteFailed: a full disk, say (the run is marked failed)
        return _fail(f"run failed: {e}", 1)
    except KeyboardInterrupt:
        return _fail("interrupted; the run is marked stopped", 130)
    except Exception as e:
        if os.environ.get("DANN_DEBUG"):
            raise
        return _fail(f"run failed: {type(e).__name__}: {e} (DANN_DEBUG=1 shows the traceback)", 1)
    if s["rank"] != 0:
        return 0  # under torchrun, rank 0 alone reports (and writes the stream)
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"
    print(f"{s['state']}: source_acc={fmt(s['source_acc'])} target_acc={fmt(s['target_acc'])} "
          f"domain_err={fmt(s['domain_err'])} seconds={s['seconds']:.3f} run={s['run_dir']}")
    return 0


def cmd_dashboard(a):
    """The dashboard, from any directory: Streamlit starts in the checkout, so that it reads the
    project's .streamlit/config.toml (localhost only, no usage statistics, projector theme)."""
    import importlib.util
    import subprocess
    spec = importlib.util.find_spec("dashboard")
    if spec is None or not spec.origin:
        return _fail("the dashboard package is not installed (pip install -e . in the checkout)")
    app = os.path.join(os.path.dirname(spec.origin), "app.py")
    env = dict(os.environ)
    if a.runs_dir:
        env["DANN_RUNS_DIR"] = os.path.abspath(a.runs_dir)
    if a.data_root:
        env["DANN_DATA"] = os.path.abspath(os.path.expanduser(a.data_root))
    argv = [sys.executable, "-m", "streamlit", "run", app, "--server.port", str(a.port),
            "--server.address", "localhost"]
    try:
        return subprocess.call(argv, cwd=os.path.dirname(os.path.dirname(app)), env=env)
    except KeyboardInterrupt:
        return 0


def main(argv=None):
    try:
        return _main(argv)
    except BrokenPipeError:  # `dann pairs | head`: the reader left; nothing to say
        sys.stderr.close()
        return 0


def _main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    a = _parser(light=argv[:1] == ["control"]).parse_args(argv)
    if a.cmd == "dashboard":
        return cmd_dashboard(a)
    if a.cmd == "pairs":
        return cmd_pairs(a.data_root)
    if a.cmd == "control":
        return cmd_control(a)
    if a.cmd == "reproduce":
        return cmd_reproduce(a)
    if a.cmd == "sweep":
        return cmd_sweep(a)
    if a.cmd == "validators":
        return cmd_validators(a)
    return cmd_train(a)
