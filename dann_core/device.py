"""Where a run trains: CUDA when present (MPS, CPU otherwise), and its place under torchrun.

Under torchrun (even with one process: that is how the DDP path is checked on one GPU) every
rank trains on its own batches inside DistributedDataParallel; rank 0 alone evaluates and
writes the stream, and tells the other ranks what the control file says.

Also what the device can do for a run: bf16 autocast (`amp`), torch.compile, and copying a
host tensor up without making the host wait.
"""
import contextlib
import importlib.util
import os
import shutil
from dataclasses import dataclass

import torch


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


@dataclass
class Placement:
    device: torch.device
    rank: int = 0
    world: int = 1
    distributed: bool = False       # launched by torchrun: a process group and DDP, even alone

    @property
    def main(self):
        """Rank 0: the one process that evaluates and writes the stream."""
        return self.rank == 0

    def wrap(self, net, all_parameters_used=True):
        """The module the step calls: the net itself, or under torchrun its DDP wrapper."""
        if not self.distributed:
            return net
        from torch.nn.parallel import DistributedDataParallel as DDP
        return DDP(net, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                   find_unused_parameters=not all_parameters_used)

    def broadcast(self, obj):
        """Rank 0's `obj` on every rank (a no-op in a single process)."""
        if not self.distributed:
            return obj
        box = [obj]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def close(self, barrier=True):
        """Leave the process group. First every rank waits at a barrier for the others (rank 0 for its
        last writes), so that none tears the group down while a peer still uses it; a failing rank
        passes barrier=False, since its peers may never arrive."""
        if not self.distributed:
            return
        if barrier:
            kw = {"device_ids": [self.device.index]} if self.device.type == "cuda" else {}
            torch.distributed.barrier(**kw)
        torch.distributed.destroy_process_group()


def place(device="auto", threads=0):
    """The device of this process, from torchrun's environment when it is set; on a CPU it
    takes `threads` threads (0: all cores)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    distributed = world > 1 or ("WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ)
    if distributed:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device in ("auto", "cuda") and torch.cuda.is_available():
            torch.cuda.set_device(local)
            dev = torch.device("cuda", local)
        else:
            dev = pick_device("cpu" if device == "auto" else device)
        torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    else:
        dev = pick_device(device)
    if dev.type == "cpu":
        # deliberate: the trainer owns the cores it is given; oversubscription ran 20x slower here
        torch.set_num_threads(threads or os.cpu_count() or 1)
    if threads:
        limit_blas_threads(threads)
    return Placement(dev, rank, world, distributed)


def limit_blas_threads(threads):
    """numpy's BLAS (the evaluation's linear algebra) on `threads` threads too: with its default
    of one per core, next to other trainings, the class-conditional diagnostics of one checkpoint
    took 0.74 s instead of 0.08 s here."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings it; without it numpy keeps its default
        return
    threadpool_limits(threads, user_api="blas")


def sync(device):
    """Wait for the device to finish its queued work (timings only; the loop never does this)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def to_device(t, device):
    """A host tensor on `device`. On CUDA it goes through pinned memory without blocking: a
    plain .to() from pageable memory makes the host wait until the GPU has caught up."""
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def autocast(device, amp):
    """The context a forward runs in: bf16 autocast when `amp` is "bf16", else plain fp32."""
    if amp == "off":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def unsupported(device, amp="off", compile=False):
    """Why `device` cannot train with these options (a one-line reason), or None."""
    if amp == "bf16" and device.type == "cuda":
        try:
            ok = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # torch before 2.3 has no emulation to exclude
            ok = torch.cuda.is_bf16_supported()
        if not ok:
            return (f"--amp bf16: {torch.cuda.get_device_name(device)} has no bfloat16 arithmetic "
                    "(needs compute capability >= 8.0); use --amp off")
    available = getattr(torch.amp, "is_autocast_available", None)  # torch >= 2.4
    if amp == "bf16" and device.type == "mps" and not (available and available("mps")):
        return "--amp bf16: this torch has no autocast on MPS; use --amp off"
    if compile:
        if not hasattr(torch, "compile"):
            return f"--compile: torch {torch.__version__} has no torch.compile"
        from torch import _dynamo
        if not _dynamo.is_dynamo_supported():
            return "--compile: torch.compile does not support this Python"
        if device.type == "cuda" and importlib.util.find_spec("triton") is None:
            return "--compile: torch.compile on CUDA needs triton (pip install triton)"
        if device.type == "cpu" and not any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "c++", "clang++")):
            return "--compile: torch.compile on a CPU needs a C++ compiler (g++ or clang++) on the PATH"
    return None
