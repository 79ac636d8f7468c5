"""A trainer process started before its run (`python -m dann_core.warm`).

A trainer spends its first ~6 s importing: torch (3 s on this 2-core machine) and torch._dynamo,
which torch.optim imports on the first optimizer (2.7 s), before it trains a step; 4 s more for
scikit-learn where a pair's data is drawn with it and not cached yet (moons, UCI digits). The dashboard
keeps one or two of these processes ready (dashboard/runs/launcher.py), so Start begins
training at once instead of after the imports.

It imports all of that, then waits on stdin for one line of JSON naming its run:
    {"argv": ["train", "--pair", ...], "env": {...}, "log": "RUN/trainer.log"}
From then on it is that run's trainer, exactly as `python -m dann_core <argv>` with environment
`env` and its output in `log`, under the pid, session and niceness it was started with. At EOF
(the dashboard ended before a run came) it exits having written nothing.
"""
import json
import os
import sys


def main():
    import sklearn.datasets  # noqa: F401  (moons and UCI digits are drawn with it on a first run: 4 s)
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401  (what the first optimizer would import)

    from dann_core import cli, train  # noqa: F401
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    try:
        job = json.loads(line)
        argv, env, log = [str(a) for a in job["argv"]], {str(k): str(v) for k, v in job["env"].items()}, job["log"]
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as e:
        print(f"dann_core.warm: a bad job line ({type(e).__name__}: {e})", file=sys.stderr)
        return 2
    for std in (1, 2):  # the trainer's output goes where a cold start's would: the run's log
        os.dup2(fd, std)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "__main__.py"), *argv]
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
