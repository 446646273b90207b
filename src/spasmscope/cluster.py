"""Ray, the engine that runs many independent jobs (cross-validation folds, recordings) across machines.

Ray is an optional extra (``pip install 'spasmscope[ray]'``): nothing imports it until a command is given
``--ray``, so spasmscope without it costs nothing. ``--ray local`` starts a Ray on this machine for the run;
``--ray auto`` joins the cluster this machine belongs to (``ray start`` ran here); ``--ray HOST:PORT`` joins the
one whose head listens there. Workers read the recordings and the cache by the paths the driver gives them, so those must be
on a file system every node mounts at the same path (``visible``).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from types import ModuleType

from spasmscope.errors import InputError

LOCAL = "local"  # the address that starts a Ray on this machine
INSTALL = "pip install 'spasmscope[ray]'"


def ray_module() -> ModuleType:
    """The ``ray`` package, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError(None, "--ray needs Ray, which is not installed in this environment", f"install it with {INSTALL}") from None
    return ray


def connect(address: str) -> ModuleType:
    """Ray connected to ``address`` (``LOCAL``, ``auto`` or ``HOST:PORT``); returns the module. A driver that is
    already connected stays connected (to the cluster it joined first)."""
    ray = ray_module()
    if ray.is_initialized():
        return ray
    try:
        if address == LOCAL:
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(None, f"cannot join the Ray cluster at --ray {address} ({first})",
                         "start one with `ray start --head` on its head node, or give --ray local to start one on this machine; a cluster "
                         "with token authentication also needs RAY_AUTH_MODE=token and its token (~/.ray/auth_token) here") from None  # fmt: skip
    return ray


def resources(ray: ModuleType) -> tuple[int, int]:
    """``(GPUs, CPUs)`` of the whole cluster, whole units (a CPU at least)."""
    have = ray.cluster_resources()
    return int(have.get("GPU", 0)), max(1, int(have.get("CPU", 1)))


def gpus_per_job(ray: ModuleType) -> int:
    """One GPU per job where the cluster has GPUs, none otherwise."""
    return 1 if resources(ray)[0] >= 1 else 0


def visible(paths: list[str | Path]) -> None:
    """Raise, naming this worker's host, the first of ``paths`` it cannot see: the recordings and the cache must be
    on a file system every node mounts at the same path."""
    for path in paths:
        if not os.path.exists(path):
            raise InputError(path, f"is not visible from the Ray worker on {socket.gethostname()}",
                             "put the recordings and the cache on a file system every node mounts at the same path (NFS, a cluster file system)")  # fmt: skip
