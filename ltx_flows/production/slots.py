"""Render slots: one Dask worker process per GPU, pinned to it, holding its loaded model between shots.

Every render worker advertises one `GPU` resource and runs one thread, and every shot asks for
one `GPU`, so a GPU never runs two generations at once and N GPUs render N shots at once.
On several machines, start the same workers by hand against one scheduler (README: Scale out)
and tell the flow where that scheduler is through LTX_FLOWS_DASK_SCHEDULER: it is configuration
of the machine that runs the flow (a work pool's job variables, a shell), not a run parameter.

torch and distributed are imported where they are used: a process that only checks caches
(an unchanged re-run) never pays for them.
"""

from __future__ import annotations

import logging
import os

# What a shot asks of its worker, and what a render worker advertises.
GPU_SLOT = {"GPU": 1}

# The Dask scheduler whose workers render shots (tcp://host:8786); unset: render on this machine.
SCHEDULER_ENV = "LTX_FLOWS_DASK_SCHEDULER"
# How long connecting to it may take before the batch fails, in seconds.
CONNECT_TIMEOUT_ENV = "LTX_FLOWS_DASK_CONNECT_TIMEOUT"
DEFAULT_CONNECT_TIMEOUT = 30.0


class ClusterUnreachable(RuntimeError):
    """The configured Dask scheduler did not answer in time."""


def scheduler_address() -> str | None:
    """The Dask scheduler configured for this machine, or None to render locally."""
    return os.environ.get(SCHEDULER_ENV, "").strip() or None


def connect_timeout() -> float:
    value = os.environ.get(CONNECT_TIMEOUT_ENV, "").strip()
    try:
        return float(value) if value else DEFAULT_CONNECT_TIMEOUT
    except ValueError:
        raise ValueError(f"{CONNECT_TIMEOUT_ENV}={value!r}: give a number of seconds") from None


def connect_scheduler(address: str, timeout: float):
    """A Dask client of the scheduler at `address`; fails with a clear message, within `timeout` seconds,
    when none answers there."""
    from distributed import Client

    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        raise ClusterUnreachable(
            f"cannot reach the Dask scheduler at {address} ({SCHEDULER_ENV}) within {timeout:g} s: {error}. "
            f"Start it (`dask scheduler`) and its render workers (README: Scale out), fix {SCHEDULER_ENV}, "
            f"or unset it to render on this machine; {CONNECT_TIMEOUT_ENV} sets the wait."
        ) from None


def visible_gpus() -> list[str]:
    """The CUDA device ids this process may use, as CUDA_VISIBLE_DEVICES spells them."""
    import torch

    count = torch.cuda.device_count()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return visible.split(",")[:count] if visible else [str(index) for index in range(count)]


def local_gpu_cluster(gpus: list[str], env: dict[str, str] | None = None):
    """A Dask cluster on this machine with one worker process per GPU id, each seeing only its own GPU.

    `env` goes to every worker's environment too: the flow passes its Prefect API there, so the
    workers report to the same server instead of each starting an ephemeral one.
    """
    from distributed import Nanny, Scheduler, SpecCluster

    workers = {
        f"gpu{gpu}": {
            "cls": Nanny,
            # The worker process starts with only its GPU visible, so "cuda" is that GPU.
            "options": {"nthreads": 1, "resources": GPU_SLOT, "env": {**(env or {}), "CUDA_VISIBLE_DEVICES": gpu}},
        }
        for gpu in gpus
    }
    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": ":0"}}
    return SpecCluster(workers=workers, scheduler=scheduler, name=f"ltx-flows-{len(gpus)}-gpus", silence_logs=logging.WARNING)
