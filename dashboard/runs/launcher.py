"""Start, steer and stop trainer processes for the dashboard.

The dashboard never trains in its own process: it starts `dann train ...` with
an argument list (no shell), in its own session so that it survives Streamlit reruns, a
closed browser tab and a restart of the server itself, and steers it only through the run's
control file. A restarted server adopts the trainers an earlier one started in the same runs
directory (`is_ours`): it can force-stop them too. At most `max_trainers()` live trainers a
machine: a start beyond that is refused (docs/reliability.md).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from dann_core.methods.modes import MODES
from dann_core.rundir import files
from dann_core.rundir.control import ControlError, check_lambda, write_control
from dann_core.rundir.liveness import pid_alive, trainer_alive
from dann_core.rundir.reader import RunReader, list_runs
from dann_core.rundir.safe_read import open_regular
from dann_core.rundir.writer import RUN_NAME_RE, safe_run_dir
from dashboard.paths import REPO_ROOT, runs_dir

# Trainers run at a lower CPU priority than the server and the browser: a trainer takes all the
# CPU it can, and on two cores two of them starved the page (a running run's embedding was not
# drawn until it finished). Niceness costs a trainer nothing while the page is idle.
TRAINER_NICE = 5


class Children(dict):
    """Popen objects of the processes this server started, by key (a run name, a sweep's log).
    Polling them reaps finished children: an unreaped (zombie) child still answers kill(pid, 0),
    so a process that was killed would otherwise look alive forever."""

    def exit_code(self, key):
        """The exit code of a process this server started (None: still running, or not ours)."""
        p = self.get(key)
        return None if p is None else p.poll()

    def is_ours(self, key):
        return key in self

    def reap(self):
        """Poll every child; returns {key: exit code} of those that have ended."""
        return {k: rc for k, p in list(self.items()) if (rc := p.poll()) is not None}

    def stop(self, key, timeout=5.0):
        """SIGINT to the child's process group (trainers then mark their runs stopped), then SIGKILL."""
        return stop_group(self.get(key), timeout)


_PROCS = Children()  # the trainers this server started, by run name
_START_LOCK = threading.Lock()  # sessions are threads of one server: count and start one at a time


# Warm trainers (dann_core/warm.py): processes that have already imported torch and wait for a
# run. A Start hands its run to one and trains at once; a cold start spends ~6 s importing first
# (two at once, as "Try it" starts them: ~11 s). Importing costs ~10 CPU-seconds each: they are
# started when the app first opens, and replaced when a person is on Start here with no run of
# this server training (a refill as soon as the runs ended slowed Compare, opened next, to 3.4 s).
_POOL = []            # Popen objects of warm trainers waiting for a run
_POOL_LOCK = threading.Lock()


def trainer_env(threads):
    """A trainer's environment: ours, its BLAS/OpenMP pools as small as its torch pool ("0": all cores)."""
    env = dict(os.environ)
    if threads != "0":
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = threads
    return env


def warm_count():
    """Warm trainers to keep ready (env DANN_WARM_TRAINERS, default 2: "Try it" starts two runs;
    0 turns them off)."""
    try:
        return max(0, int(os.environ.get("DANN_WARM_TRAINERS", "2")))
    except ValueError:
        return 2


def warm_pool():
    """Start warm trainers until warm_count() wait, unless a trainer this server started is still
    training (imports beside it would slow it and the page following it). Each in its own
    session, niced like trainers, stdin a pipe from this server: when the server ends, they read
    EOF and exit. Returns how many it started."""
    if any(_training(p) for p in list(_PROCS.values())):
        return 0
    with _POOL_LOCK:
        _POOL[:] = [p for p in _POOL if p.poll() is None]
        threads = str(trainer_threads())
        env = trainer_env(threads)
        started = 0
        while len(_POOL) < warm_count():
            try:
                p = spawn([sys.executable, "-m", "dann_core.warm"], subprocess.DEVNULL, env, stdin=subprocess.PIPE)
            except OSError:
                break  # a cold start still works
            p.threads = threads  # its OpenMP pools were sized at import: it only takes runs of as many threads
            _POOL.append(p)
            started += 1
        return started


def _training(p):
    """A trainer of ours still at work: alive, and its run not ended (one that wrote its last
    status can take a second more to exit)."""
    if p.poll() is not None:
        return False
    d = getattr(p, "run_dir", None)
    st = RunReader(d).status() if d else None
    return st is None or st.active or st.state == "missing"  # "missing": still importing, no status yet


_pool_started = threading.Event()


def start_warm_pool():
    """warm_pool() once per server: the app calls this on every script run."""
    if not _pool_started.is_set():
        _pool_started.set()
        warm_pool()


def _hand_to_warm(argv, env, log_path):
    """Give the run to a waiting warm trainer of the same thread count; its Popen, or None
    (none waiting: start cold)."""
    threads = argv[argv.index("--threads") + 1]
    job = (json.dumps({"argv": argv[3:], "env": env, "log": log_path}) + "\n").encode()
    with _POOL_LOCK:
        for p in list(_POOL):
            if getattr(p, "threads", None) != threads:
                continue
            _POOL.remove(p)
            if p.poll() is not None:
                continue
            try:
                p.stdin.write(job)
                p.stdin.close()
            except OSError:  # it died meanwhile: the next one, or a cold start
                continue
            return p
    return None


class LaunchError(ValueError):
    """A run that cannot be started, with a one-line reason."""


@dataclass
class Launched:
    name: str
    run_dir: str
    pid: int
    argv: list
    log_path: str


def trainer_threads():
    """CPU threads for trainers started here (env DANN_TRAINER_THREADS, default 1): with the
    server and projections on the same cores, one thread each avoids oversubscription."""
    try:
        return max(0, int(os.environ.get("DANN_TRAINER_THREADS", "1")))
    except ValueError:
        return 1


def max_trainers():
    """Live trainers allowed on this machine (env DANN_MAX_TRAINERS; default two per core, at
    least 2). Each trainer started here uses one thread: at twice the cores each still gets half
    a core, and the server its share; beyond that every run, and the page, only gets slower."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    default = max(2, 2 * cores)
    try:
        n = int(os.environ.get("DANN_MAX_TRAINERS", default))
    except ValueError:
        return default
    return n if n >= 1 else default


def live_trainers(root):
    """Names of the runs in `root` whose trainer is a live process of this machine (started
    here, by an earlier server or from a terminal), and this server's trainers that have not
    written their status yet (still importing torch)."""
    live = set()
    for name in list_runs(root):
        st = RunReader(os.path.join(root, name)).status()
        if st.active and trainer_alive(st.raw):
            live.add(name)
    here = os.path.realpath(root)
    for name, p in list(_PROCS.items()):
        d = getattr(p, "run_dir", None)
        if d and p.poll() is None and os.path.realpath(os.path.dirname(d)) == here:
            live.add(name)
    return sorted(live)


def check_capacity(root, wanted=1):
    """LaunchError (one line) when starting `wanted` more trainers would pass max_trainers()."""
    limit, live = max_trainers(), live_trainers(root)
    if len(live) + wanted > limit:
        raise LaunchError(f"{len(live)} trainers are running on this machine and the limit is {limit} "
                          "(DANN_MAX_TRAINERS): stop one, or wait for one to finish")


# what a page may set on a trainer's command line: Config fields, as `--flag value` (True: `--flag`)
TRAINER_OPTIONS = ("epochs", "lambda_schedule", "lambda_max", "max_steps", "ckpt_every", "pace", "until_stopped",
                   "ema", "lr_schedule", "data_root", "target_labels")


def trainer_argv(pair, mode, runs_dir, run_name, seed=0, threads=None, **options):
    """The trainer's command line as a list (never a shell string). `options`: TRAINER_OPTIONS;
    None (or False) leaves the pair's default."""
    if mode not in MODES:
        raise LaunchError(f"unknown mode {mode!r}")
    unknown = set(options) - set(TRAINER_OPTIONS)
    if unknown:
        raise LaunchError(f"unknown trainer option(s): {', '.join(sorted(unknown))}")
    argv = [sys.executable, "-m", "dann_core", "train", "--pair", str(pair), "--mode", mode,
            "--runs-dir", os.path.abspath(runs_dir), "--run-name", run_name, "--seed", str(int(seed)),
            "--threads", str(trainer_threads() if threads is None else int(threads)), "--no-progress"]
    for k in TRAINER_OPTIONS:  # a fixed order: the same options give the same command line
        v = options.get(k)
        if v is None or v is False:
            continue
        flag = "--" + k.replace("_", "-")
        argv += [flag] if v is True else [flag, repr(float(v)) if isinstance(v, float) else str(v)]
    return argv


# a run a person steers by hand (Home's "Steer λ yourself", the page's "until I stop it"): it goes
# on until stopped, at a pace one can watch (moons: a fold of the target moon within seconds),
# with λ starting at 0 under the person's hand, the learning rate held, and the raw weights shown
# (a moving average would delay what a λ change does by hundreds of steps)
LIVE = dict(until_stopped=True, pace=300.0, lr_schedule="constant", ema=0.0, lambda_schedule="constant")
LIVE_START_LAMBDA = 0.0


def default_name(pair, mode, seed, runs_dir, when=None):
    """`pair-mode-sSEED-YYYYmmdd-HHMMSS`, with a -2, -3 ... suffix if that run exists."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    base = f"{pair}-{mode.replace('_', '')}-s{int(seed)}-{stamp}"
    name, i = base, 2
    while os.path.exists(os.path.join(runs_dir, name)):
        name, i = f"{base}-{i}", i + 1
    return name


def check_name(runs_dir, name):
    """The run directory for `name`; LaunchError for a bad name or an existing run."""
    if not name or not RUN_NAME_RE.match(name):
        raise LaunchError(f"bad run name {name!r}: use letters, digits, '.', '_' or '-' (at most 128, "
                          "not starting with '.' or '-')")
    try:
        path = safe_run_dir(runs_dir, name)
    except ValueError as e:
        raise LaunchError(str(e)) from None
    if os.path.exists(path):
        raise LaunchError(f"a run named {name!r} already exists in {runs_dir}: pick another name")
    return path


def start(pair, mode, runs_dir, run_name, control=None, **opts):
    """Start one trainer process. Returns a Launched; raises LaunchError with a one-line reason
    (a bad or taken name, max_trainers() reached, an unwritable runs directory).
    `control`: the run's control file to start from (say {"lambda": 0.0}: λ under the hand)."""
    try:
        os.makedirs(runs_dir, exist_ok=True)
    except OSError as e:
        raise LaunchError(f"cannot create the runs directory {runs_dir!r}: {e.strerror or e}") from None
    with _START_LOCK:
        check_capacity(runs_dir)
        return _start(pair, mode, runs_dir, run_name, control, **opts)


def _start(pair, mode, runs_dir, run_name, control, **opts):
    run_dir = check_name(runs_dir, run_name)
    argv = trainer_argv(pair, mode, runs_dir, run_name, **opts)
    env = trainer_env(argv[argv.index("--threads") + 1])
    try:
        os.makedirs(run_dir)
        if control:
            write_control(run_dir, **control)
        log_path = files.trainer_log(run_dir)  # the trainer's stdout/stderr, next to the stream it writes
        log = open(log_path, "wb")
    except (OSError, ValueError) as e:
        raise LaunchError(f"cannot create {run_dir!r}: {getattr(e, 'strerror', None) or e}") from None
    try:
        proc = _hand_to_warm(argv, env, log_path) or spawn(argv, log, env)
    except OSError as e:
        raise LaunchError(f"cannot start the trainer: {e.strerror or e}") from None
    finally:
        log.close()
    proc.run_dir = run_dir
    proc.started_as = {"pair": pair, "mode": mode, "seed": int(opts.get("seed") or 0)}
    _PROCS[run_name] = proc
    return Launched(run_name, run_dir, proc.pid, argv, log_path)


def started_as(name):
    """{pair, mode, seed} of a run this server started, known before its manifest is written;
    None for any other run."""
    return getattr(_PROCS.get(name), "started_as", None)


def start_runs(pair, modes, runs_dir, name="", seed=0, **opts):
    """Start one trainer per mode (say source-only and DANN side by side), named `name`, or
    `name-<mode>` for several, or pair-mode-seed-time. Every name is checked before any trainer
    starts. Returns the run names; LaunchError with a one-line reason."""
    base = (name or "").strip()
    names = [(f"{base}-{m.replace('_', '')}" if len(modes) > 1 else base) if base
             else default_name(pair, m, seed, runs_dir) for m in modes]
    for n in names:
        check_name(runs_dir, n)
    check_capacity(runs_dir, len(names))  # all of them or none
    for m, n in zip(modes, names):
        start(pair, m, runs_dir, n, seed=seed, **opts)
    return names


def spawn(argv, log, env=None, stdin=subprocess.DEVNULL, niceness=TRAINER_NICE):
    """Start `argv` (a list: no shell) from the repository root, in its own session (it outlives
    Streamlit reruns and closed tabs), its output into the open file `log`, `niceness` above
    ours. OSError if it cannot."""
    nice = shutil.which("nice")
    if nice and niceness:  # `nice` execs the trainer: the pid is the trainer's own
        argv = [nice, "-n", str(niceness), *argv]
    return subprocess.Popen(argv, cwd=REPO_ROOT, env=dict(os.environ if env is None else env),
                            stdin=stdin, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            close_fds=True)


reap = _PROCS.reap
exit_code = _PROCS.exit_code  # of a trainer this server started (None: still running, or not ours)


def is_ours(name, root=None):
    """True for a trainer this server started, or one a dashboard started in this runs
    directory before this server did (it survived a restart: `adopted`)."""
    return _PROCS.is_ours(name) or adopted(os.path.join(root or runs_dir(), name)) is not None


def adopted(run_dir):
    """The pid of the live trainer of `run_dir` if a dashboard started it (its trainer.log is
    there) and this process is the very one that writes the run: it is alive with the pid and
    start time its status.json names, and holds the run's metrics.jsonl open. A status.json
    copied in cannot name another process into being stopped. None otherwise (Linux only)."""
    if not os.path.isfile(files.trainer_log(run_dir)) or os.path.islink(run_dir):
        return None
    st = RunReader(run_dir).status()
    if not (st.active and trainer_alive(st.raw) and st.raw.get("pid_start") is not None):
        return None
    want = os.path.realpath(files.metrics(run_dir))
    try:
        fds = os.listdir(f"/proc/{st.pid}/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            if os.readlink(f"/proc/{st.pid}/fd/{fd}") == want:
                return st.pid
        except OSError:
            pass
    return None


def tail_lines(path, n=1):
    """The last `n` non-empty lines of a log file (from its last 4 kB); [] if it cannot be read."""
    try:
        with open_regular(path) as f:  # not a FIFO or a symlink someone put there
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return []
    return lines[-n:]


def log_tail(run_dir, n=3):
    """The last `n` non-empty lines of the trainer's log (its error message when it failed)."""
    return tail_lines(files.trainer_log(run_dir), n)


def set_lambda(run_dir, value):
    """Override λ from now on (None: follow the schedule again); LaunchError for a λ that
    breaks the rule (check_lambda)."""
    try:
        value = check_lambda(value, "λ")
    except ControlError as e:
        raise LaunchError(str(e)) from None
    return write_control(run_dir, lambda_=value)


def pause(run_dir, paused=True):
    return write_control(run_dir, paused=bool(paused))


def stop(run_dir):
    return write_control(run_dir, stop=True)


def terminate(name, timeout=5.0, root=None):
    """Last resort for a trainer of ours (is_ours) that ignores its control file: SIGINT (the
    trainer then marks the run stopped), then SIGKILL. False when there is no such trainer."""
    if _PROCS.is_ours(name):
        return _PROCS.stop(name, timeout)
    pid = adopted(os.path.join(root or runs_dir(), name))
    return False if pid is None else stop_pid(pid, timeout)


def stop_pid(pid, timeout=5.0):
    """SIGINT, then SIGKILL, to a process that is not our child (an adopted trainer): to its
    process group when it leads one (the launcher starts each in its own session)."""
    try:
        group = os.getpgid(pid) == pid
        kill = os.killpg if group else os.kill
        for sig in (signal.SIGINT, signal.SIGKILL):
            kill(pid, sig)
            t0 = time.time()
            while time.time() - t0 < timeout:
                if not pid_alive(pid):
                    return True
                time.sleep(0.05)
    except ProcessLookupError:
        pass
    return True


def stop_group(p, timeout=5.0, sig=signal.SIGINT):
    """`sig` (SIGINT: trainers then mark their runs stopped) to a process group we started, then
    SIGKILL. False when there is no such process, or it already ended."""
    if p is None or p.poll() is not None:
        return False
    try:
        os.killpg(p.pid, sig)
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout)
    except ProcessLookupError:
        pass
    return True
