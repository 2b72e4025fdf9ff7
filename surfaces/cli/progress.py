"""Progress bars while `postline order run` and `postline demo` run an order in this process: one bar per step of
the order's line (ingest, each stage, the QC gate, delivery), drawn by rich from the production record's counts,
which a thread asks for twice a second while the flow runs. Useful on an order of hundreds of photos, where
the run's log is a wall of batches.

Only on a terminal: drawn on stderr, and only when stdout and stderr are both terminals, so a script that reads
the command's last line (`postline order run 7 | tail -n1`) gets exactly what it got before. While the bars are
up, Prefect's own console log lines are printed above them through the same console (as plain text: a log line
holding ``[brackets]`` is not taken for markup), so the two do not overwrite each other.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

POLL_SECONDS = 0.5


def _prefect_console_handlers() -> list[logging.Handler]:
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger()] + [logger for logger in logging.Logger.manager.loggerDict.values()
                                       if isinstance(logger, logging.Logger)]
    return list({id(h): h for logger in loggers for h in logger.handlers
                 if isinstance(h, PrefectConsoleHandler)}.values())


class _Bars:
    """The bars of one order, refreshed from the record."""

    def __init__(self, order_id: int, progress: Progress):
        from surfaces.actions import orders

        self.order_id, self.progress = order_id, progress
        self.on_card = orders.files_on_card(order_id)
        self.bars: dict[str, TaskID] = {}

    def update(self) -> None:
        from surfaces.actions import orders

        for step in orders.progress(self.order_id, on_card=self.on_card):
            if step.label not in self.bars:
                self.bars[step.label] = self.progress.add_task(step.label, total=step.total or None)
            self.progress.update(self.bars[step.label], completed=step.done, total=step.total or None)


@contextmanager
def progress_of(order_id: int, *, console: Console | None = None) -> Iterator[None]:
    """Show the order's progress while the body runs (see the module's docstring); ``console``: draw there
    instead, whatever the terminals."""
    if console is None and not (sys.stdout.isatty() and sys.stderr.isatty()):
        yield
        return
    console = console or Console(stderr=True, markup=False, highlight=False, emoji=False)
    progress = Progress(TextColumn("{task.description:<24}", markup=False), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, transient=True, refresh_per_second=4)
    bars = _Bars(order_id, progress)
    stop = threading.Event()

    saved: dict[int, tuple[logging.Handler, Console]] = {}

    def through_bars() -> None:
        """Prefect's console handlers print through the bars' console (again at every look: Prefect may set up
        its logging once the flow run has started)."""
        for handler in _prefect_console_handlers():
            if handler.console is not console:
                saved.setdefault(id(handler), (handler, handler.console))
                handler.console = console

    def poll() -> None:
        while not stop.wait(POLL_SECONDS):
            try:
                through_bars()
                bars.update()
            except Exception:  # noqa: BLE001 - the record busy for a moment: the next look will do
                continue

    with progress:
        through_bars()
        watcher = threading.Thread(target=poll, name=f"postline-progress-{order_id}", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join(timeout=5)
            try:
                bars.update()          # the last look: every bar as the run left it
            except Exception:  # noqa: BLE001
                pass
            for handler, original in saved.values():
                handler.console = original
