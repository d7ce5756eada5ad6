"""How backup and restore report progress: one phase at a time, a callable counting what is done."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from tqdm import tqdm

Advance = Callable[[int], None]


class Progress(Protocol):
    def __call__(self, phase: str, *, total: int | None, unit: str) -> contextlib.AbstractContextManager[Advance]:
        """Enter a phase of ``total`` units; the yielded callable is called with the units just done."""


@contextlib.contextmanager
def silent(phase: str, *, total: int | None, unit: str) -> Iterator[Advance]:
    yield lambda n: None


def progress_bars(stream: Any, *, disable: bool = False) -> Progress:
    """tqdm bars on ``stream`` (the commands' stderr), one per phase."""

    @contextlib.contextmanager
    def bar(phase: str, *, total: int | None, unit: str) -> Iterator[Advance]:
        shown = tqdm(total=total, unit=unit, desc=phase, disable=disable, file=stream,
                   unit_scale=unit == "B", unit_divisor=1024 if unit == "B" else 1000)
        try:
            yield shown.update
        finally:
            shown.close()

    return bar


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
