"""Render slots: one Dask worker process per GPU, pinned to it, holding its loaded model between shots.

Every render worker advertises one `GPU` resource and runs one thread, and every shot asks for
one `GPU`, so a GPU never runs two generations at once and N GPUs render N shots at once.
On several machines, start the same workers by hand against one scheduler (README: Scale out)
and tell the flow where that scheduler is through LTX_FLOWS_DASK_SCHEDULER: it is configuration
of the machine that runs the flow (a work pool's job variables, a shell), not a run parameter.

Without a configured scheduler, a machine with several GPUs starts one pinned worker per GPU for the
batch, and one with a single GPU or none renders in this process, on threads (`render_slots`).

torch, distributed and Prefect are imported where they are used: a process that only checks caches
(an unchanged re-run) never pays for them, and the CLI reads SCHEDULER_ENV before Prefect may load.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect import Task
    from prefect.futures import PrefectFuture

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


@dataclass(frozen=True)
class RenderSlots:
    """Where shots render, and how many shots may be out at once.

    A render worker that finishes a shot should find its next one waiting rather than wait for this
    process to hear of it and send one: Dask workers get one queued shot each beyond the one they
    render (so the queue's order still holds to within a shot per worker); threads here get one
    more than there are devices (a clip encodes while the next shot generates).

    Storyboards stitch in this process: one at a time when shots render here too (the renders'
    memory comes first), one per CPU core when they render elsewhere, so that the storyboards that
    finish with the batch's last shots do not stitch one after another after it.
    """

    submit: Callable[[dict], PrefectFuture]  # the shot task's parameters -> its run's future
    count: int
    stitchers: int = 1


@contextmanager
def render_slots(shot_task: Task) -> Iterator[RenderSlots]:
    """The render slots for this run, running `shot_task`: a configured Dask cluster's GPU workers, one pinned
    worker per local GPU, or threads in this process (one per device plus one, so a clip encodes while the next
    shot generates)."""
    from prefect import get_run_logger
    from prefect.task_runners import ThreadPoolTaskRunner

    from .dask_submit import DaskShots, quoted

    address = scheduler_address()
    if address:
        with connect_scheduler(address, connect_timeout()) as client:
            count = _dask_slots(client)
            if count == 0:
                get_run_logger().warning("The Dask scheduler at %s has no render workers (GPU=1) yet; shots wait for one", address)
            yield RenderSlots(DaskShots(client, shot_task, GPU_SLOT), 2 * max(count, 1), stitchers=os.cpu_count() or 1)
        return
    gpus = visible_gpus()
    if len(gpus) > 1:
        from distributed import Client

        # One pinned worker per GPU for the whole batch, so each loads its model once.
        with local_gpu_cluster(gpus, env=worker_env()) as local, Client(local, set_as_default=False) as client:
            yield RenderSlots(DaskShots(client, shot_task, GPU_SLOT), 2 * len(gpus), stitchers=os.cpu_count() or 1)
        return
    # One device: generations take turns on it (see render/generate.py); the extra thread encodes.
    with ThreadPoolTaskRunner(max_workers=2) as runner:
        yield RenderSlots(lambda parameters: runner.submit(shot_task, quoted(parameters)), 2)


def worker_env() -> dict[str, str]:
    """The Prefect API local render workers report to, instead of each starting an ephemeral server of its own:
    the configured one, or the ephemeral one this process started."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()
        url = server.api_url if server.running else None
    return {"PREFECT_API_URL": url} if url else {}


def _dask_slots(client) -> int:
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    return sum(int(worker.get("resources", {}).get("GPU", 0)) for worker in workers)
