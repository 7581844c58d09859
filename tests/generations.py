"""Test helper: the generations a render starts, as the progress log announces them (`progress.generation`).

`watching()` collects each generation's details (`shot`, `content_hash`, `prompt`, `frames`, `memory` as a dict,
`held`, `audio_held`) while it is open; `before(details)`, when given, runs first and may raise, which stops that
generation with its error as a real failure at that point would (out of memory, a broken decoder).
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ltx_flows.render import progress


class GenerationLog(logging.Handler):
    def __init__(self, before: Callable[[dict], None] | None = None):
        super().__init__()
        self.events: list[dict] = []
        self.before = before

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "event", None) != "generation":
            return
        if self.before is not None:
            self.before(record.generation)
        self.events.append(record.generation)

    def shots(self) -> list[str]:
        return [event["shot"] for event in self.events]


@contextmanager
def watching(before: Callable[[dict], None] | None = None) -> Iterator[GenerationLog]:
    handler = GenerationLog(before)
    progress.log.addHandler(handler)
    try:
        yield handler
    finally:
        progress.log.removeHandler(handler)


def watch_forever(before: Callable[[dict], None] | None = None) -> GenerationLog:
    """As `watching`, for the rest of the process (a Dask worker's)."""
    handler = GenerationLog(before)
    progress.log.addHandler(handler)
    return handler
