"""One training job over several processes: PyTorch's DistributedDataParallel under ``torchrun``.

``torchrun --nproc-per-node N -m spasmscope train ...`` starts N copies of the command; ``start_from_env`` joins
them into one process group (NCCL on GPUs, one GPU per process; gloo on CPUs). ``[train] batch_size`` stays the
global batch: every process walks the same epoch order and takes its share of each batch (``shard``), and the
loss is scaled so that DDP's averaged gradient is the gradient of the whole batch's mean loss, so N processes
take the single process's steps. Process 0 writes the model and the log; the others write nothing.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.distributed as dist


def start_from_env() -> None:
    """Join the process group that ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1); nothing
    otherwise, or when already joined."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    # Left to the interpreter's teardown, gloo's worker threads can outlive it and abort the process ("terminate called
    # without an active exception") after the job's work is done; leaving the group while Python is whole avoids that.
    atexit.register(_leave)


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def world() -> int:
    """Processes in the job (1 without ``torchrun``)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    """Whether this process writes the job's files and reports (process 0, or the only one)."""
    return rank() == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


@contextmanager
def main_first() -> Iterator[None]:
    """Process 0 runs the block first (filling a cache, say), then the others, which find its work done."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def shard(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """This process's share of ``batch`` (row indices of one global batch) and each row's weight in the loss. A
    process left without a row (a short last batch) gets the batch's first row at weight 0: every process must
    take part in each step's gradient exchange."""
    mine = np.array_split(batch, world())[rank()]
    if len(mine) == 0:
        return batch[:1], np.zeros(1)
    return mine, np.ones(len(mine))


def sum_over_processes(values: list[float]) -> list[float]:
    """Element-wise sum of ``values`` over the processes (themselves without ``torchrun``)."""
    if not dist.is_initialized():
        return values
    t = torch.tensor(values, dtype=torch.float64, device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t)
    return t.tolist()
