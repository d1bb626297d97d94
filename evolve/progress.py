"""The live view of a campaign in the terminal.

Why two modes: on a terminal a rich Live panel redraws in place (cycle, stage, evaluations,
best perf per domain, hypervolume, recent events); in CI logs, pipes and files the same
information comes as plain one-line messages with no control codes, so logs stay greppable.

    with ProgressView() as view:
        view.log("knowledge base: runs/demo/kb.sqlite")
        view.update(cycle=0, cycles=5, stage="isolated", done=3, total=12,
                    best={"arch": 0.12}, hypervolume=0.41, note="arch 3f2a seed 0: ok in 2.1s")
"""
from __future__ import annotations

import collections
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from evolve.formatting import number


@dataclass
class _State:
    cycle: int = -1
    cycles: int = 0
    stage: str = ""
    done: int = 0
    total: int = 0
    best: dict[str, float] = field(default_factory=dict)
    hypervolume: float = math.nan
    note: str = ""


def status_line(cycle: int, cycles: int, stage: str, done: int, total: int, best: Mapping[str, float],
                hypervolume: float, note: str = "") -> str:
    """The plain one-line form of a progress update (`cycle` is 0-based, shown 1-based)."""
    best_text = " ".join(f"{d}={number(v)}" for d, v in sorted(best.items())) or "—"
    parts = [f"cycle {cycle + 1}/{cycles}", stage, f"{done}/{total} evals", f"hv {number(hypervolume)}",
             f"best {best_text}"]
    if note:
        parts.append(note)
    return " | ".join(parts)


class ProgressView:
    """Context manager showing campaign progress (see module docstring).

    enabled:     False turns off progress updates (no panel, no status lines); `log`
                 messages are still printed as plain lines, because they carry what a
                 user must know (GP-only mode, where the knowledge base is).
    console:     a rich Console (default: stdout); its `is_terminal` picks the mode.
    max_events:  how many recent `log` messages the panel shows.
    min_interval_s: in plain mode, an update without a note, stage or cycle change, or
                 completion prints at most this often.
    """

    def __init__(self, enabled: bool = True, console: Console | None = None, *, title: str = "evolve",
                 max_events: int = 8, min_interval_s: float = 5.0) -> None:
        self.enabled = enabled
        self.console = console or Console()
        self.title = title
        self.min_interval_s = min_interval_s
        self._events: collections.deque[str] = collections.deque(maxlen=max_events)
        self._state = _State()
        self._live: Live | None = None
        self._started = time.monotonic()
        self._last_line = -math.inf
        self._last_key: tuple[int, str] | None = None

    @property
    def live(self) -> bool:
        """Whether the rich Live panel is showing (a terminal and enabled)."""
        return self._live is not None

    # ---- context manager -------------------------------------------------------------
    def __enter__(self) -> "ProgressView":
        self._started = time.monotonic()
        if self.enabled and self.console.is_terminal and self._live is None:
            self._live = Live(console=self.console, get_renderable=self._render, refresh_per_second=4,
                              transient=False, redirect_stdout=True, redirect_stderr=True)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._render(), refresh=True)
            self._live.stop()
            self._live = None

    # ---- API -------------------------------------------------------------------------
    def update(self, cycle: int, cycles: int, stage: str, done: int, total: int, best: Mapping[str, float],
               hypervolume: float, note: str = "") -> None:
        """New progress: `cycle` 0-based of `cycles`, `done` of `total` evaluations in `stage`."""
        if not self.enabled:
            return
        self._state = _State(cycle, cycles, stage, done, total, dict(best), float(hypervolume), note)
        if self._live is not None:
            self._live.refresh()
            return
        key = (cycle, stage)
        now = time.monotonic()
        if note or key != self._last_key or done >= total or now - self._last_line >= self.min_interval_s:
            self._plain(status_line(cycle, cycles, stage, done, total, best, hypervolume, note))
            self._last_line, self._last_key = now, key

    def log(self, message: str) -> None:
        """An event worth a line: shown in the panel's recent events, or printed plainly."""
        stamped = f"{time.strftime('%H:%M:%S')} {message}"
        self._events.append(stamped)
        if self._live is not None:
            self._live.refresh()
        else:
            self._plain(message)

    def handler(self, level: int = logging.INFO) -> logging.Handler:
        """A logging handler that routes records into `log` (e.g. for `evolve.*` loggers)."""
        view = self

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                try:
                    view.log(f"{record.levelname.lower()}: {record.getMessage()}")
                except Exception:  # noqa: BLE001 - logging must never raise
                    self.handleError(record)

        return _Handler(level)

    # ---- rendering -------------------------------------------------------------------
    def _plain(self, text: str) -> None:
        """One line, no markup, no colour, no wrapping: safe for logs and pipes."""
        stream = self.console.file
        stream.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")
        stream.flush()

    def _render(self) -> Panel:
        s = self._state
        header = Text()
        if s.cycle >= 0:
            header.append(f"cycle {s.cycle + 1}/{s.cycles}", style="bold")
            header.append(f"  stage {s.stage}", style="cyan")
        else:
            header.append("starting", style="bold")
        header.append(f"  elapsed {time.monotonic() - self._started:,.0f} s", style="dim")

        evals = Table.grid(padding=(0, 1))
        evals.add_row(Text("evaluations"), ProgressBar(total=max(s.total, 1), completed=min(s.done, max(s.total, 1)),
                                                       width=30), Text(f"{s.done}/{s.total}"))
        scores = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        scores.add_column("domain")
        scores.add_column("best perf", justify="right")
        for domain, value in sorted(s.best.items()):
            scores.add_row(domain, number(value))
        scores.add_row(Text("hypervolume", style="magenta"), Text(number(s.hypervolume), style="magenta"))

        parts: list[Any] = [header, evals, scores]
        if s.note:
            parts.append(Text(f"last: {s.note}", style="dim", overflow="ellipsis", no_wrap=True))
        if self._events:
            parts.append(Text("\n".join(self._events), style="green"))
        return Panel(Group(*parts), title=self.title, border_style="blue")
