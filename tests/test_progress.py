"""ProgressView: a rich Live panel on terminals, plain lines (no control codes) elsewhere."""
from __future__ import annotations

import io
import logging
import math
import re

from rich.console import Console

from evolve.progress import ProgressView, status_line

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BEST = {"arch": 0.1234567, "rl": 0.8}


def test_status_line():
    assert status_line(1, 5, "cross", 3, 12, BEST, 0.4321, "arch 3f2a: ok") == (
        "cycle 2/5 | cross | 3/12 evals | hv 0.4321 | best arch=0.1235 rl=0.8 | arch 3f2a: ok")
    assert status_line(0, 1, "isolated", 0, 4, {}, math.nan) == "cycle 1/1 | isolated | 0/4 evals | hv — | best —"


def test_plain_mode_prints_lines_without_control_codes():
    buf = io.StringIO()
    with ProgressView(console=Console(file=buf), min_interval_s=3600) as view:
        assert not view.live
        view.log("running GP-only: no LLM server answered")
        view.update(0, 2, "isolated", 1, 3, BEST, 0.2, note="arch c1 seed 0: ok in 1.0s")
        view.update(0, 2, "isolated", 2, 3, BEST, 0.25)  # no note, same stage, not done: throttled
        view.update(0, 2, "isolated", 3, 3, BEST, 0.3)  # stage complete: printed
        view.update(0, 2, "cross", 0, 2, BEST, 0.3)  # stage changed: printed
    out = buf.getvalue()
    assert "\x1b" not in out and "\r" not in out
    lines = out.splitlines()
    assert len(lines) == 4
    assert all(re.match(r"^\[\d\d:\d\d:\d\d\] ", line) for line in lines)
    assert lines[0].endswith("running GP-only: no LLM server answered")
    assert lines[1].endswith("cycle 1/2 | isolated | 1/3 evals | hv 0.2 | best arch=0.1235 rl=0.8 | "
                             "arch c1 seed 0: ok in 1.0s")
    assert lines[2].endswith("| isolated | 3/3 evals | hv 0.3 | best arch=0.1235 rl=0.8")
    assert "| cross | 0/2 evals" in lines[3]


def test_terminal_mode_draws_live_panel():
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100, color_system="standard")
    with ProgressView(console=console) as view:
        assert view.live
        view.log("knowledge base: runs/demo/kb.sqlite")
        view.update(1, 5, "cross", 4, 8, BEST, 0.4321, note="rl 9abc seed 1: timeout")
    raw = buf.getvalue()
    assert "\x1b[" in raw  # drawn with control codes
    text = ANSI.sub("", raw)
    for expected in ("cycle 2/5", "stage cross", "4/8", "arch", "0.1235", "hypervolume", "0.4321",
                     "knowledge base: runs/demo/kb.sqlite", "last: rl 9abc seed 1: timeout", "evolve"):
        assert expected in text, expected
    assert not view.live


def test_disabled_view_keeps_messages_but_drops_progress():
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True)
    with ProgressView(enabled=False, console=console) as view:
        assert not view.live
        view.update(0, 1, "isolated", 1, 1, BEST, 0.1, note="x")
        view.log("report written")
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].endswith("report written") and "\x1b" not in lines[0]


def test_logging_handler_routes_records():
    buf = io.StringIO()
    view = ProgressView(console=Console(file=buf))
    logger = logging.getLogger("evolve.test_progress")
    logger.addHandler(view.handler())
    logger.propagate = False
    try:
        logger.warning("idle worker %d died", 1)
    finally:
        logger.handlers.clear()
    assert buf.getvalue().rstrip().endswith("warning: idle worker 1 died")
