"""The one progress bar of the long commands: a count and an estimate on a terminal, and
nothing at all when the output is not one (a cron job's log wants only the summary)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import IO

import click

OnProgress = Callable[[int, int], None]


def _quiet(_done: int, _total: int) -> None:
    pass


@contextmanager
def progress_bar(label: str, file: IO[str] | None = None) -> Iterator[OnProgress]:
    """Yield ``on_progress(done, total)`` for the service layer to call as it goes. The bar
    starts at the first call: the total is often known only once the work has begun."""
    file = file if file is not None else sys.stdout
    if not file.isatty():
        yield _quiet
        return
    with ExitStack() as stack:
        bar = None

        def on_progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = stack.enter_context(
                    click.progressbar(length=total, label=label, show_pos=True, file=file)
                )
            bar.update(done - bar.pos)

        yield on_progress
