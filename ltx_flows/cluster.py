"""Render slots: one Dask worker process per GPU, pinned to it, holding its loaded model between shots.

Every render worker advertises one `GPU` resource and runs one thread, and every shot asks for
one `GPU`, so a GPU never runs two generations at once and N GPUs render N shots at once.
On several machines, start the same workers by hand against one scheduler (README: Scale out).
"""

import logging
import os

import torch
from distributed import Nanny, Scheduler, SpecCluster

# What a shot asks of its worker, and what a render worker advertises.
GPU_SLOT = {"GPU": 1}


def visible_gpus() -> list[str]:
    """The CUDA device ids this process may use, as CUDA_VISIBLE_DEVICES spells them."""
    count = torch.cuda.device_count()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return visible.split(",")[:count] if visible else [str(index) for index in range(count)]


def local_gpu_cluster(gpus: list[str]) -> SpecCluster:
    """A Dask cluster on this machine with one worker process per GPU id, each seeing only its own GPU."""
    workers = {
        f"gpu{gpu}": {
            "cls": Nanny,
            # The worker process starts with only its GPU visible, so "cuda" is that GPU.
            "options": {"nthreads": 1, "resources": GPU_SLOT, "env": {"CUDA_VISIBLE_DEVICES": gpu}},
        }
        for gpu in gpus
    }
    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": ":0"}}
    return SpecCluster(workers=workers, scheduler=scheduler, name=f"ltx-flows-{len(gpus)}-gpus", silence_logs=logging.WARNING)
