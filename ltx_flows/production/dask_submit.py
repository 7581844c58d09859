"""Shot task runs on a Dask cluster's render workers: prefect-dask's submit, redone with Prefect internals.

Why this exists: prefect_dask's task runner serializes Prefect's whole context (settings included) and
walks every parameter for futures on each submission, and Prefect's engine rebuilds the settings and
opens two API clients for every task run on the worker: 0.2-0.3 s of CPU per shot on each side
(benchmarks/makespan.py --profile). This module does the same with the flow run's context serialized
once per batch and one API client per render worker. It is the only module that reaches into Prefect's
internals (`serialize_context`, `AssetContext`, `SyncClientContext`, `run_task_sync`); everything else
uses Prefect's public API. Shots never take futures as parameters, so they have no dependencies.
"""

import threading
from contextlib import nullcontext
from uuid import uuid4

from prefect import Task
from prefect.futures import PrefectFuture
from prefect.utilities.annotations import quote

from .logs import show_run_logs


def quoted(parameters: dict) -> dict:
    """A task's parameters for Prefect not to look into (the task gets the plain values).

    Prefect otherwise walks every field of every parameter looking for futures, twice per task run, and a
    plan holds all its storyboard's shots: 50 ms a shot at 150 shots, a cost that grows with the square of
    the storyboard (benchmarks/flow_overhead.py). Our tasks never take futures.
    """
    return {name: quote(value) for name, value in parameters.items()}


class DaskShots:
    """Submits runs of `task` to a Dask cluster's render workers the way prefect_dask's task runner does, with
    the flow run's context serialized once instead of once per shot.

    The worker runs the task with Prefect's own engine (`run_task_sync`): one task run per shot, with its
    retries, under this flow run. Each submission asks the worker for `resources` (a render slot).
    """

    def __init__(self, client, task: Task, resources: dict[str, int]):
        from prefect.context import serialize_context

        self.client = client
        self.task = task
        self.resources = resources
        self.context = serialize_context()  # the flow run's: the same for every shot (about 10 kB pickled)

    def __call__(self, parameters: dict) -> PrefectFuture:
        from prefect.context import AssetContext
        from prefect_dask.task_runners import PrefectDaskFuture

        task_run_id = uuid4()
        dependencies = {name: set() for name in parameters}
        assets = AssetContext.from_task_and_inputs(
            task=self.task, task_run_id=task_run_id, task_inputs=dependencies, copy_to_child_ctx=True
        ).serialize()
        future = self.client.submit(_run_on_worker, self.task, task_run_id, parameters, dependencies, self.context,
                                    assets, key=f"shot-{task_run_id}", resources=self.resources, pure=False)
        return PrefectDaskFuture(wrapped_future=future, task_run_id=task_run_id)


def _run_on_worker(task: Task, task_run_id, parameters: dict, dependencies: dict, context: dict, assets: dict):
    """In a render worker: one task run, through Prefect's engine, in the flow run's context."""
    from prefect.context import SettingsContext, SyncClientContext
    from prefect.task_engine import run_task_sync

    show_run_logs()
    context = {**context, "asset_context": assets}
    settings, client = _worker_prefect.get(context.pop("settings_context", None))
    # Prefect's engine uses the client of the SyncClientContext it finds (it would make two of its own per task
    # run); that context has no public way in without closing its client on the way out.
    client_token = SyncClientContext.__var__.set(client)
    try:
        with SettingsContext(profile=settings.profile, settings=settings.settings) if settings else nullcontext():
            # Quoted here, not before: Dask rebuilds the tuples in a task's arguments, and a quote is one.
            return run_task_sync(task, task_run_id=task_run_id, parameters=quoted(parameters),
                                 dependencies=dependencies, context=context, return_type="state")
    finally:
        SyncClientContext.__var__.reset(client_token)


class WorkerPrefect:
    """A render worker's Prefect settings and API client, kept from one shot to the next while the flow run's
    settings stay the same.

    Prefect's engine rebuilds the settings (pydantic-settings reads the environment again) and opens two
    API clients for every task run it hydrates: 0.2-0.3 s of CPU per shot on these loaded cores, while the
    worker's GPU waits (benchmarks/makespan.py: workers idle 0.6-0.9 s between shots before this).
    """

    def __init__(self):
        self._guard = threading.Lock()
        # (the flow's serialized settings, the SettingsContext made from them, a SyncClientContext with an open client)
        self._kept: tuple | None = None

    def get(self, settings: dict | None):
        """The SettingsContext made from `settings` (None for none) and a SyncClientContext for them."""
        from prefect.context import SettingsContext, SyncClientContext

        with self._guard:
            if self._kept is None or self._kept[0] != settings:
                # A new flow run's settings: a new client (the old one may still serve a shot of that run: it stays open).
                made = SettingsContext(**settings) if settings else None
                with made or nullcontext():  # the client talks to the API these settings name
                    client = SyncClientContext()
                    client.client.__enter__()
                self._kept = (settings, made, client)
            return self._kept[1], self._kept[2]


# One per render worker process: its shots share it.
_worker_prefect = WorkerPrefect()
