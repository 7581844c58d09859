"""Where ltx_flows' own log lines go during a run, set up where a run starts (never at import).

Core modules log to `ltx_flows.*` (model loads, per-step timings): inside a flow or task run those
records go to the run's logs too, as Prefect's PREFECT_LOGGING_EXTRA_LOGGERS would send them (outside
a run they only reach the console, as PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW=ignore would have it).
"""

import logging

from .batch import BatchFailed

_OURS = "ltx_flows"


class _BatchFailedInOneLine(logging.Filter):
    """Prefect's engine ends every flow run that ends Failed by re-raising its state's exception and logging it
    to the run as "Engine execution exited with unexpected exception" with a 20-line traceback of its own frames
    (prefect.flow_engine.run_flow, as a worker runs a deployment; Prefect 3.8.8 has no setting for it). For a
    batch whose storyboards failed that is expected, and the state's message and the batch summary say why:
    the record keeps its level and becomes that one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, BatchFailed):
            record.msg, record.args, record.exc_info, record.exc_text = "Batch failed: %s", (str(error),), None, None
        return True


class _ToRunLogs(logging.Handler):
    """Hands a record made inside a flow or task run to the handlers Prefect gives its extra loggers (its API
    log handler); drops it outside one."""

    def emit(self, record: logging.LogRecord) -> None:
        from prefect.context import FlowRunContext, TaskRunContext

        if getattr(record, "flow_run_id", None) is None and FlowRunContext.get() is None and TaskRunContext.get() is None:
            return
        for handler in logging.getLogger("prefect.extra").handlers:
            if record.levelno >= handler.level:
                handler.handle(record)


def show_run_logs() -> None:
    """Send ltx_flows' INFO lines to the run's logs, and a failed batch's end as one line; idempotent.

    Called as a flow starts and as a render worker runs a shot: Prefect has set up its logging by then.
    """
    from prefect.settings import PREFECT_LOGGING_EXTRA_LOGGERS

    ours = logging.getLogger(_OURS)
    ours.setLevel(logging.INFO)
    # Where PREFECT_LOGGING_EXTRA_LOGGERS names us (prefect.yaml's work pool does), Prefect already does it.
    if _OURS not in PREFECT_LOGGING_EXTRA_LOGGERS.value() and not any(isinstance(h, _ToRunLogs) for h in ours.handlers):
        ours.addHandler(_ToRunLogs())
    # The logger Prefect's engine gives a deployment's run (prefect.flow_engine.flow_run_logger).
    flow_runs = logging.getLogger("prefect.flow_runs")
    if not any(isinstance(f, _BatchFailedInOneLine) for f in flow_runs.filters):
        flow_runs.addFilter(_BatchFailedInOneLine())
