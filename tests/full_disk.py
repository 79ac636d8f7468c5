"""A disk that fills up, for tests: ENOSPC in the middle of a chosen write of the run stream.

No small filesystem is available to fill for real, so the stream's own file openings
(dann_core.rundir.writer._open_new / _open_append) are wrapped: the chosen write lands half its bytes
and raises OSError(ENOSPC), as a real full disk does. Two disks:
  * the space comes back (stays_full=False): the failed write was what did not fit; the trainer
    removes its temporary file, and later small writes (status.json) succeed;
  * it stays full (stays_full=True): every write after the first failure fails too.

In a test:    FullDisk("pt", nth=3).install(monkeypatch)
As a script:  python tests/full_disk.py pt 3 [--stays-full] -- <dann train arguments>
"""
import errno
import os
import sys

TARGETS = ("pt", "npz", "metrics")


class FullDisk:
    """ENOSPC at the `nth` checkpoint .pt or .npz file written, or at the `nth` metrics line."""

    def __init__(self, target, nth=1, stays_full=False):
        assert target in TARGETS, target
        self.target, self.nth, self.stays_full = target, nth, stays_full
        self.seen = 0       # matching files opened (pt, npz) or metrics lines written
        self.full = False   # the disk is full now
        self.failed = None  # the path whose write failed

    def _matches(self, path):
        base = os.path.basename(path)
        return base.startswith("ckpt_") and f".{self.target}.tmp" in base

    def open_new(self, path):
        f = open(path, "wb")
        armed = False
        if self._matches(path):
            self.seen += 1
            armed = self.seen == self.nth
        return _File(f, self, path, armed)

    def open_append(self, path):
        return _File(open(path, "ab", buffering=0), self, path, False, lines=self.target == "metrics")

    def install(self, monkeypatch=None):
        from dann_core.rundir import writer as stream
        for name, fn in (("_open_new", self.open_new), ("_open_append", self.open_append)):
            if monkeypatch is not None:
                monkeypatch.setattr(stream, name, fn)
            else:
                setattr(stream, name, fn)
        return self


class _File:
    def __init__(self, f, disk, path, armed, lines=False):
        self.f, self.disk, self.path, self.armed, self.lines = f, disk, path, armed, lines

    def write(self, data):
        disk = self.disk
        if disk.full and disk.stays_full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if self.lines:
            disk.seen += 1
            self.armed = disk.seen == disk.nth
        if self.armed and disk.failed is None:
            data = bytes(data)
            self.f.write(data[:len(data) // 2])  # what fitted
            self.f.flush()
            disk.full, disk.failed = True, self.path
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


if __name__ == "__main__":
    target, nth, rest = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    stays = "--stays-full" in rest[:rest.index("--")]
    FullDisk(target, nth, stays).install()
    from dann_core.cli import main
    sys.exit(main(rest[rest.index("--") + 1:]))
