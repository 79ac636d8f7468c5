"""Is a run's trainer alive? Its status.json names a host, a pid and the process's start time.

A pid alone misleads: an ended child that its parent has not reaped (a zombie) still answers
kill(pid, 0), and after a reboot or a long day another process can hold the same pid. On Linux
/proc tells both apart; elsewhere kill(pid, 0) is all there is.
"""
import os
import socket


def _proc_stat(pid):
    """The fields of /proc/PID/stat after the command name (the state first), or None."""
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError, ValueError, OverflowError):
        return None


def process_start(pid=None):
    """The start time of process `pid` (default: this one), in clock ticks since boot (Linux),
    or None where there is no /proc."""
    fields = _proc_stat(os.getpid() if pid is None else pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def pid_alive(pid, started=None):
    """Whether process `pid` of this host is alive: not ended, not a zombie, and (where
    `started`, its process_start, is given) not another process reusing the pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except (OSError, TypeError, ValueError, OverflowError):
        return False
    fields = _proc_stat(pid)
    if fields is None:
        return True
    if fields[0] in ("Z", "X"):
        return False
    return started is None or (len(fields) > 19 and fields[19] == str(started))


def trainer_alive(raw):
    """Whether the trainer that wrote status dict `raw` is a live process of this host. Strict:
    the status must carry the pid's start time where this host can check it (a status.json
    copied in, naming some live pid, does not make a run live)."""
    if not isinstance(raw, dict) or raw.get("host") != socket.gethostname():
        return False
    pid, started = raw.get("pid"), raw.get("pid_start")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if started is None and process_start() is not None:
        return False
    return pid_alive(pid, started)
