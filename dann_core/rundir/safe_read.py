"""Reading files of a run directory that someone else may have written (copied in, hostile).

A reader opens only regular files, never through a symlink as the last path component (a
checkpoint linked to /etc/passwd is refused, not read), never blocks on a FIFO, and never reads
more than a cap into memory. Directories are checked with `real_dir` (a symlinked run or
checkpoints directory is not followed). Errors are OSError with a one-line reason.
"""
import errno
import os
import stat


class Refused(OSError):
    """A file the reader will not read: a symlink, not a regular file, or too large."""


def open_regular(path):
    """`path` opened for reading in binary, if it is a regular file reached without a final
    symlink. FileNotFoundError when absent; Refused otherwise."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP or (e.errno == errno.EMLINK and os.path.islink(path)):
            raise Refused(f"{os.path.basename(path)} is a symlink (not followed)") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refused(f"{os.path.basename(path)} is not a regular file (not read)")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_capped(path, cap):
    """The bytes of regular file `path`, Refused if it holds more than `cap`."""
    with open_regular(path) as f:
        data = f.read(cap + 1)
    if len(data) > cap:
        raise Refused(f"{os.path.basename(path)} is larger than {cap // 1024} kB (not read)")
    return data


def real_dir(path):
    """True for a directory that is not a symlink (lstat: nothing followed)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False
