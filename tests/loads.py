"""Test helper: the model loads a process makes, as its log says them ("Loaded ... in N s", models/loading.py).

`counting()` counts them while it is open; `count_forever()` counts for the rest of the process (a Dask worker's)
and `counted()` reads that count back.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from ltx_flows.models import loading


class LoadLog(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.INFO)
        self.loads = 0

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, str) and record.msg.startswith("Loaded "):
            self.loads += 1


def _attach() -> LoadLog:
    handler = LoadLog()
    loading.log.addHandler(handler)
    # The logger may sit under a WARNING root outside a flow run: INFO must reach the handler.
    loading.log.setLevel(logging.INFO)
    return handler


@contextmanager
def counting() -> Iterator[LoadLog]:
    level = loading.log.level
    handler = _attach()
    try:
        yield handler
    finally:
        loading.log.removeHandler(handler)
        loading.log.setLevel(level)


def count_forever() -> None:
    if not any(isinstance(handler, LoadLog) for handler in loading.log.handlers):
        _attach()


def counted() -> int:
    return sum(handler.loads for handler in loading.log.handlers if isinstance(handler, LoadLog))
