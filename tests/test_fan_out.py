"""Unit tests of the fan-out's bookkeeping: the progress artifact's updates (artifacts.py) and a render worker's
Prefect state (dask_submit.py). The Prefect API calls are stubbed (say so: they record what would be sent); the logic around
them is the real one. The fan-out itself runs for real in test_scale_out.py and test_batch_integration.py.
The last test runs a real flow on the session's Prefect server."""

import threading
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from ltx_flows.production import artifacts, dask_submit, flow
from ltx_flows.render import progress


def plan(name="film"):
    # ProgressArtifact reads only the plan's name (through report.storyboard_description).
    return SimpleNamespace(name=name)


def frozen_throttle(handler):
    """From now on the throttle lets nothing through before the end (its clock stands still)."""
    handler.throttle = progress.Throttle(clock=lambda: 0.0)
    handler.throttle.ready()


def test_a_burst_of_progress_events_costs_one_update_with_the_newest_state(monkeypatch):
    sent, in_flight = [], threading.Event()

    def create(percent, key, description):
        sent.append(("create", percent, description))
        in_flight.wait(10)  # the API is slow: more events arrive while this call is out
        return "artifact-id"

    monkeypatch.setattr(artifacts, "create_progress_artifact", create)
    monkeypatch.setattr(artifacts, "update_progress_artifact",
                        lambda artifact, percent, description: sent.append(("update", percent, description)))
    reporter = artifacts.Reporter()
    handler = artifacts.ProgressArtifact(plan(), "cli", reporter)
    progress.log.addHandler(handler)
    try:
        progress.planned("film", [("a", 0), ("b", 0)])  # creates the artifact
        frozen_throttle(handler)
        progress.shot_finished("film", "a", "rendered")  # within the second: dropped by the throttle
        handler.throttle = progress.Throttle(seconds=0)  # from here on, every event may send
        progress.shot_finished("film", "b", "rendered")
        progress.stitching("film")
        progress.finished("film", ok=True)
        in_flight.set()
    finally:
        reporter.close()
        progress.log.removeHandler(handler)
    # The three events that came while the creation was out became one update: the last one.
    assert [(kind, percent) for kind, percent, _ in sent] == [("create", 0.0), ("update", 100.0)]
    assert sent[-1][2].endswith("Now: done")


@contextmanager
def planned_artifact():
    """A one-shot storyboard's progress artifact, listening, once the reporter is done with its `planned` event."""
    reporter = artifacts.Reporter()
    handler = artifacts.ProgressArtifact(plan(), "cli", reporter)
    progress.log.addHandler(handler)
    try:
        progress.planned("film", [("a", 0)])
        reporter.close()
        handler.reporter = artifacts.Reporter()
        yield handler
    finally:
        handler.reporter.close()
        progress.log.removeHandler(handler)


def test_the_last_update_is_never_dropped_by_the_throttle(monkeypatch):
    sent = []
    monkeypatch.setattr(artifacts, "create_progress_artifact", lambda percent, key, description: sent.append(percent) or "id")
    monkeypatch.setattr(artifacts, "update_progress_artifact", lambda artifact, percent, description: sent.append(percent))
    with planned_artifact() as handler:
        frozen_throttle(handler)
        progress.shot_finished("film", "a", "rendered")  # within the second: dropped
        progress.finished("film", ok=True)  # the end: sent anyway
    assert sent == [0.0, 100.0]


def test_a_failed_artifact_call_is_logged_and_the_next_event_tries_again(monkeypatch, caplog):
    sent = []

    def create(percent, key, description):
        if not sent:
            sent.append("refused")
            raise ConnectionError("the API is down")
        sent.append(percent)
        return "id"

    monkeypatch.setattr(artifacts, "create_progress_artifact", create)
    monkeypatch.setattr(artifacts, "update_progress_artifact", lambda artifact, percent, description: sent.append(percent))
    with planned_artifact():  # its creation was refused
        progress.finished("film", ok=True)
    assert sent == ["refused", 100.0]
    assert "the API is down" in caplog.text


def test_a_render_worker_keeps_its_prefect_client_while_the_settings_stay_the_same():
    from prefect.context import SettingsContext

    worker = dask_submit.WorkerPrefect()
    serialized = SettingsContext.get().serialize()

    def settings(url):  # the flow's serialized settings, as each shot brings a copy (nothing listens there)
        return {**serialized, "settings": {**serialized["settings"], "api": {**serialized["settings"].get("api", {}), "url": url}}}

    first_settings, first_client = worker.get(settings("http://127.0.0.1:9/api"))
    again_settings, again_client = worker.get(settings("http://127.0.0.1:9/api"))
    assert again_client is first_client and again_settings is first_settings
    other_settings, other_client = worker.get(settings("http://127.0.0.1:10/api"))
    assert other_client is not first_client
    assert str(first_client.client.api_url).startswith("http://127.0.0.1:9/api")
    assert str(other_client.client.api_url).startswith("http://127.0.0.1:10/api")
    for client in (first_client, other_client):
        client.client.__exit__(None, None, None)


@pytest.mark.integration
def test_a_cli_run_learns_it_has_no_deployment_without_asking_the_api(prefect_server, monkeypatch):
    """The run's source (artifact keys) and its allowed folders come from the flow run in context. Prefect's
    `runtime.deployment` fetches the flow run from the API with a new client on every read: 0.05-0.2 s each,
    four reads a run. Prefect's fetch is wrapped to count (and still made), the flow run is real."""
    from prefect import flow as prefect_flow
    from prefect.runtime import deployment

    fetched = []
    fetch = deployment._get_flow_run

    async def counted(run_id):
        fetched.append(run_id)
        return await fetch(run_id)

    monkeypatch.setattr(deployment, "_get_flow_run", counted)

    @prefect_flow
    def probe_run() -> tuple:
        return flow._run_source(), flow._allowed_roots(), flow._deployment_id(), deployment.id

    source, roots, deployment_id, runtime_id = probe_run()
    assert (source, roots, deployment_id, runtime_id) == ("cli", None, None, None)
    assert len(fetched) == 1  # only the last read, through prefect.runtime, asked the API
