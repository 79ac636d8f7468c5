"""Control-file races: two writers (the CLI and the page) send λ / pause / resume in quick
succession while the trainer reads. The trainer never reads half a file, no write is lost (the
last write wins), and metrics.jsonl records every λ that took effect, even one undone before
the next log record. DANN_CONTROL_WRITES sets the number of writes (default 100).
"""
import json
import os
import random
import re
import subprocess
import sys
import threading
import time

import pytest

from dann_core.rundir.control import ControlPoll, read_control, write_control
from dann_core.rundir.reader import RunReader
from dashboard.runs import launcher

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WRITES = int(os.environ.get("DANN_CONTROL_WRITES", "100"))

# writer 1 is the CLI (`dann control`, its main() called in one process: 50 interpreters would
# take a minute to start); it prints each command and the seq the write got
CLI_WRITER = r"""
import io, contextlib, json, random, sys, time
from dann_core.cli import main
run_dir, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
print("ready", flush=True)
sys.stdin.readline()  # go
for i in range(n):
    kind = rng.choice(["lambda"] * 5 + ["pause", "resume", "resume", "schedule"])
    args = {"lambda": ["--lambda", str(rng.choice([0.0, 0.1, 0.25, 0.5, 1.0, 2.0]))], "pause": ["--pause"],
            "resume": ["--resume"], "schedule": ["--schedule"]}[kind]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["control", run_dir, *args])
    print(json.dumps({"args": args, "rc": rc, "out": out.getvalue().strip()}), flush=True)
    time.sleep(rng.uniform(0, 0.03))
"""


def _wait(cond, timeout, what):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


def _change_of_cli(args):
    if args[0] == "--lambda":
        return {"lambda": float(args[1])}
    return {"--pause": {"paused": True}, "--resume": {"paused": False}, "--schedule": {"lambda": None}}[args[0]]


def test_two_writers_lose_no_update(tmp_path):
    """Without a lock, two read-modify-writes that interleave undo each other: seq tells."""
    d = str(tmp_path)
    seqs, n = [], 200

    def writer(key, values):
        for v in values:
            seqs.append(write_control(d, **{key: v})["seq"])

    ts = [threading.Thread(target=writer, args=("lambda_", [i / 10 for i in range(n // 2)])),
          threading.Thread(target=writer, args=("paused", [bool(i % 2) for i in range(n // 2)]))]
    p = subprocess.Popen([sys.executable, "-c", "import sys\nfrom dann_core.rundir.control import write_control\n"
                          f"for i in range({n // 2}): print(write_control(sys.argv[1], stop=False)['seq'])", d],
                         cwd=ROOT, stdout=subprocess.PIPE, text=True)
    for t in ts:
        t.start()
    out, _ = p.communicate(timeout=120)
    for t in ts:
        t.join()
    seqs += [int(s) for s in out.split()]
    assert sorted(seqs) == list(range(1, 3 * n // 2 + 1))  # every write counted once: none lost
    ctl = read_control(d)
    assert ctl["seq"] == 3 * n // 2 and ctl["lambda"] == (n // 2 - 1) / 10 and ctl["paused"] is True
    assert ctl["stop"] is False
    assert [f for f in os.listdir(d) if ".tmp" in f] == []


def test_poll_sees_a_second_write_within_one_tick_of_the_file_clock(tmp_path, monkeypatch):
    """Two writes within one tick of the file clock can leave the same (inode, size, mtime)."""
    monkeypatch.setattr(ControlPoll, "FRESH_S", 5.0)  # "within one tick", whatever the load here
    d = str(tmp_path)
    path = os.path.join(d, "control.json")
    write_control(d, lambda_=0.3)
    now = time.time_ns()
    os.utime(path, ns=(now, now))
    poll = ControlPoll(d)
    assert poll.poll()[0]["lambda"] == 0.3
    text = open(path).read().replace("0.3", "0.5")
    with open(path, "r+") as f:  # same inode, same size, then the same mtime
        f.write(text)
    os.utime(path, ns=(now, now))
    assert poll.poll()[0]["lambda"] == 0.5


@pytest.mark.server
def test_a_hundred_writes_from_the_cli_and_the_page_while_the_trainer_reads(tmp_path):
    runs = str(tmp_path / "runs")
    run_dir = os.path.join(runs, "race")
    trainer = subprocess.Popen([sys.executable, "-m", "dann_core", "train", "--pair", "moons", "--epochs", "5000",
                                "--pace", "200", "--log-every", "10", "--runs-dir", runs, "--run-name", "race",
                                "--threads", "1", "--no-progress"], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    cli = None
    try:
        _wait(lambda: RunReader(run_dir).status().state == "running", 120, "the trainer to start")
        cli = subprocess.Popen([sys.executable, "-c", CLI_WRITER, run_dir, str(WRITES // 2), "1"], cwd=ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert cli.stdout.readline().strip() == "ready"  # its interpreter is up; it now waits for "go"
        page_log = []

        def page_writer(rng):  # what the page's callbacks call
            for _ in range(WRITES - WRITES // 2):
                kind = rng.choice(["lambda"] * 5 + ["pause", "resume", "resume", "schedule"])
                if kind == "lambda":
                    v = rng.choice([0.0, 0.15, 0.3, 0.75, 1.5])
                    page_log.append(({"lambda": v}, launcher.set_lambda(run_dir, v)["seq"]))
                elif kind == "schedule":
                    page_log.append(({"lambda": None}, launcher.set_lambda(run_dir, None)["seq"]))
                else:
                    page_log.append(({"paused": kind == "pause"}, launcher.pause(run_dir, kind == "pause")["seq"]))
                time.sleep(rng.uniform(0, 0.03))

        t = threading.Thread(target=page_writer, args=(random.Random(2),))
        cli.stdin.write("go\n")
        cli.stdin.flush()
        t.start()
        out, _ = cli.communicate(timeout=120)
        t.join()
        cli_log = []
        for line in out.splitlines():
            rec = json.loads(line)
            assert rec["rc"] == 0, rec
            cli_log.append((_change_of_cli(rec["args"]), int(re.search(r"seq=(\d+)", rec["out"]).group(1))))

        # no write lost: the seqs are 1..WRITES, each once; replaying them in order gives the file
        writes = sorted(cli_log + page_log, key=lambda w: w[1])
        assert [s for _, s in writes] == list(range(1, WRITES + 1))
        state, states = {}, {}
        for change, s in writes:
            state = {**state, **change}
            states[s] = dict(state)
        final = read_control(run_dir)
        assert {k: final.get(k) for k in state} == state  # the last write wins, key by key

        # the trainer ends up in the final state: resume if paused, then check λ, then stop
        if final.get("paused"):  # λ written during the pause takes effect now: at this seq
            _wait(lambda: RunReader(run_dir).status().state == "paused", 60, "the run to pause")
            states[launcher.pause(run_dir, False)["seq"]] = {**state, "paused": False}
        _wait(lambda: RunReader(run_dir).status().state == "running", 60, "the run to run")
        # the stop is checked before λ in a step: it may go only once the last λ is in effect
        _wait(lambda: _hand_in_effect(RunReader(run_dir).metrics()) == final.get("lambda"), 60,
              "the trainer to apply the last λ")
        states[launcher.stop(run_dir)["seq"]] = {**state, "paused": False, "stop": True}
        assert trainer.wait(30) == 0, trainer.stderr.read()[-2000:]
        assert RunReader(run_dir).status().state == "stopped"

        _check_lambda_records(RunReader(run_dir).metrics(), states, final)
    finally:
        for p in (trainer, cli):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)


def _hand_in_effect(recs):
    """The hand-set λ the trainer's last λ record put in effect (None: the schedule's)."""
    hand = None
    for m in recs:
        if m.get("event") == "lambda":
            hand = m["lambda"] if m["lambda_source"] == "control" else None
    return hand


def _check_lambda_records(recs, states, final):
    """metrics.jsonl against the writes: `states` is the control file after each seq."""
    # it never read half a file (that would be a warning record), and logged every λ it used
    assert not [m for m in recs if "warning" in m]
    changes = [m for m in recs if m.get("event") == "lambda"]
    assert changes, "no λ change was logged"
    seqs = [m["control_seq"] for m in changes]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for m in changes:  # each is what the file said at that seq
        want = states[m["control_seq"]].get("lambda")
        assert m["lambda_source"] == ("schedule" if want is None else "control"), m
        if want is not None:
            assert m["lambda"] == want, (m, want)
    for a, b in zip(changes, changes[1:]):  # a change is logged only when the hand-set λ changed
        assert (a["lambda_source"], a["lambda"] if a["lambda_source"] == "control" else None) != \
               (b["lambda_source"], b["lambda"] if b["lambda_source"] == "control" else None)
    hand, unseen, short = None, False, 0  # in file order: every training record's λ is the last change's
    for m in recs:
        if m.get("event") == "lambda":
            short += unseen
            hand, unseen = (m["lambda"] if m["lambda_source"] == "control" else None), True
        elif "label_loss" in m:
            unseen = False
            assert m["lambda_source"] == ("schedule" if hand is None else "control"), m
            if hand is not None:
                assert m["lambda"] == hand, (m, hand)
    assert hand == final.get("lambda")  # and the last one is the last write's
    # changes undone before the next training record: only their change records show them
    print(f"{WRITES} writes, {len(changes)} λ changes took effect, {short} of them undone before the next "
          "training record (seen only in their change record)")
