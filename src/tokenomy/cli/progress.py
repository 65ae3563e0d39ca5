"""Progress bars on stderr for the commands that can run for minutes (export, audit), drawn only when
stderr is a terminal and the user did not pass ``--quiet``: nothing is drawn into a pipe or a file.

``tokenomy import`` draws its own (files and bytes, cli/importing.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def percent_bar(label: str, *, quiet: bool) -> Iterator[Callable[[float], object] | None]:
    """A bar told how far a job is (0 to 100); None (no bar) with ``quiet`` or without a terminal."""
    from rich.console import Console  # noqa: PLC0415  (rich only when drawing)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: PLC0415

    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        yield None
        return
    columns = (TextColumn(label), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=100)
        yield lambda done: bar.update(task, completed=done)


@contextmanager
def steps_bar(label: str, steps: int, *, quiet: bool) -> Iterator[Callable[[str], object]]:
    """A bar over ``steps`` named steps, told each one's name as it starts (the bar then counts the
    steps before it as done); with ``quiet`` or without a terminal, a callable that draws nothing."""
    from rich.console import Console  # noqa: PLC0415  (rich only when drawing)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: PLC0415

    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        yield lambda name: None
        return
    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("", total=steps)
        started = 0

        def step(name: str) -> None:
            nonlocal started
            bar.update(task, completed=started, description=name)
            started += 1

        yield step
