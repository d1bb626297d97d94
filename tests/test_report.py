"""Plots write real PNGs for small and degenerate inputs; the report holds the tables' rows."""
from __future__ import annotations

import math

import pytest

from evolve.figures import ancestry, front_line, generations, layout
from evolve.plots import plot_hypervolume, plot_lineage, plot_pareto
from evolve.report import fmt, markdown_table, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000


def point(i, perf, cost, front=False, stage="isolated", novelty=0.5):
    return {"id": f"cand{i:03d}", "perf": perf, "cost": cost, "novelty": novelty, "front": front, "stage": stage}


@pytest.mark.parametrize("points", [
    [point(0, 0.1, 1.0, front=True)],  # one point
    [point(0, 0.1, 1.0), point(1, 0.3, 2.0, stage="cross")],  # empty front
    [point(0, 0.1, 1.0, True), point(1, 0.5, 2.0, True, "full"), point(2, 0.2, 3.0, stage="cross", novelty=None)],
    [point(0, 0.1, 0.01, True), point(1, 0.4, 100.0, True)],  # wide cost range: log axis
    [point(0, math.nan, 1.0), point(1, 0.2, None)],  # nothing plottable
    [],
])
def test_plot_pareto_writes_png(tmp_path, points):
    path = plot_pareto(points, tmp_path / "sub" / "pareto.png")
    assert path == tmp_path / "sub" / "pareto.png"
    assert_png(path)


@pytest.mark.parametrize("history", [[], [(0, 0.0)], [(10, 0.2), (0, 0.1), (20, math.nan), (30, 0.5)]])
def test_plot_hypervolume_writes_png(tmp_path, history):
    assert_png(plot_hypervolume(history, tmp_path / "hv.png"))


NODES = {
    "a": {"parents": [], "label": "arch:a", "perf": 0.0, "origin": "baseline"},
    "b": {"parents": [], "label": "arch:b", "perf": None, "origin": "baseline"},
    "c": {"parents": ["a"], "label": "arch:c", "perf": 0.2, "origin": "gp"},
    "d": {"parents": ["a", "b"], "label": "arch:d", "perf": 0.3, "origin": "crossover"},
    "e": {"parents": ["c", "d", "ghost"], "label": "arch:e", "perf": 0.5, "origin": "llm"},
    "x": {"parents": [], "label": "arch:x", "perf": 0.0, "origin": "baseline"},
}


def test_ancestry_and_generations():
    ids, omitted = ancestry(NODES, ["e"])
    assert ids == ["e", "c", "d", "ghost", "a", "b"] and omitted == 0
    assert generations(NODES, ids) == {"a": 0, "b": 0, "ghost": 0, "c": 1, "d": 1, "e": 2}
    ids, omitted = ancestry(NODES, ["e"], limit=3)
    assert ids == ["e", "c", "d"] and omitted == 3
    pos = layout(NODES, ["e", "c", "d", "a", "b"])
    assert pos["e"][1] == -2.0 and pos["a"][1] == 0.0
    assert sorted(x for x, y in pos.values() if y == 0.0) == [-0.5, 0.5]
    cyclic = {"p": {"parents": ["q"]}, "q": {"parents": ["p"]}}
    assert sorted(generations(cyclic, ["p", "q"]).values()) == [0, 1]


@pytest.mark.parametrize("best", [["e"], ["e", "x"], ["x"], ["unknown-best"], []])
def test_plot_lineage_writes_png(tmp_path, best):
    assert_png(plot_lineage(NODES, best, tmp_path / "lineage.png"))


def test_plot_lineage_caps_large_ancestry(tmp_path):
    nodes = {f"n{i}": {"parents": [f"n{i - 1}", f"n{max(0, i - 2)}"] if i else [], "label": f"n{i}",
                       "perf": float(i), "origin": "gp"} for i in range(200)}
    assert_png(plot_lineage(nodes, ["n199"], tmp_path / "lineage.png", max_nodes=20))


def test_front_line_and_fmt():
    assert front_line([(2.0, 0.5), (1.0, 0.1), (2.0, 0.7)]) == [(1.0, 0.1), (2.0, 0.7), (2.0, 0.5)]
    assert fmt(None) == "—" and fmt(math.nan) == "—" and fmt(True) == "yes"
    assert fmt(0.123456) == "0.1235" and fmt(3) == "3"
    assert fmt("a | b\nc <script>") == "a \\| b c &lt;script&gt;"
    assert fmt({"arch": 0.5, "rl": None}) == "arch: 0.5, rl: —"
    assert markdown_table([{"a": 1, "b": "x"}, {"a": 2}], ["a", "b"]) == "| a | b |\n|---|---|\n| 1 | x |\n| 2 | — |"


FRONT = [
    {"candidate": "c-low", "stage": "cross", "genomes": {"arch": "g1", "rl": "g2"}, "perf": 0.12,
     "perf_by_domain": {"arch": 0.2, "rl": 0.04}, "cost_ratio": 0.8, "novelty": 1.5,
     "texts": {"arch": "mixer: attention\nffn: swiglu", "rl": "ppo(clip=0.2)"}},
    {"candidate": "c-high", "stage": "full", "genomes": {"arch": "g3", "rl": "g2"}, "perf": 0.4,
     "perf_by_domain": {"arch": 0.7, "rl": 0.1}, "cost_ratio": 1.9, "novelty": 0.3,
     "texts": {"arch": "mixer: ```retention```", "rl": "ppo(clip=0.1)"}},
]
HYPOTHESES = [
    {"id": "h1", "domain": "arch", "statement": "a data-dependent decay gate helps", "predicate": {"f": "gate"},
     "metric": "perf", "direction": "increase", "status": "supported", "effect": 0.21, "ci_low": 0.05,
     "ci_high": 0.37, "p_value": 0.01, "n_true": 12, "n_false": 30, "evidence": {"hedges_g": 0.8}},
    {"id": "h2", "domain": "rl", "statement": "bigger clip | worse", "metric": "perf", "direction": "decrease",
     "status": "active", "effect": None, "ci_low": None, "ci_high": None, "n_true": 1, "n_false": 2},
]
AGENDA = [
    {"cycle": 0, "domain": "arch", "share": 0.5, "progress": None, "reason": "start even"},
    {"cycle": 1, "domain": "rl", "share": 0.7, "progress": 0.02, "reason": "rl improves fastest"},
]


def test_write_report_has_every_row(tmp_path):
    plot_pareto([point(0, 0.1, 1.0, True)], tmp_path / "pareto_front.png")
    summary = {"campaign": "demo", "domains": ["arch", "rl"], "cycles_done": 2, "hypervolume": 0.4321,
               "best_perf": {"arch": 0.7, "rl": 0.1}, "pareto_front": FRONT,
               "hypervolume_history": [[0, 0.1], [5, 0.4]], "llm": {"mode": "none", "note": "GP only"}}
    images = {"Pareto front": "pareto_front.png", "Lineage": str(tmp_path / "missing.png")}
    path = write_report(tmp_path, summary, HYPOTHESES, AGENDA, FRONT, images)
    text = path.read_text()
    assert path == tmp_path / "report.md"
    assert text.startswith("# Campaign report: demo")
    assert "| hypervolume | 0.4321 |" in text and "| best_perf | arch: 0.7, rl: 0.1 |" in text
    assert "| llm | mode: none, note: GP only |" in text
    assert "![Pareto front](pareto_front.png)" in text and "*Lineage: not generated.*" in text
    assert "| candidate | stage | stages passed | perf | perf arch | perf rl | cost | novelty | genome |" in text
    high = "| c-high | full | full | 0.4 | 0.7 | 0.1 | 1.9 | 0.3 | arch: mixer: ```retention```; rl: ppo(clip=0.1) |"
    low = "| c-low | cross | cross | 0.12 | 0.2 | 0.04 | 0.8 | 1.5 | arch: mixer: attention; rl: ppo(clip=0.2) |"
    assert high in text and low in text and text.index(high) < text.index(low)
    assert "````text\nmixer: ```retention```\n````" in text  # fence longer than the genome's backticks
    assert ("| h1 | arch | a data-dependent decay gate helps | perf | increase | 0.21 | [0.05, 0.37] | 0.01 "
            "| 12 / 30 | supported |") in text
    assert "| h2 | rl | bigger clip \\| worse | perf | decrease | — | — | — | 1 / 2 | active |" in text
    assert "| 0 | arch | 0.5 | — | start even |" in text and "| 1 | rl | 0.7 | 0.02 | rl improves fastest |" in text
    assert "[[0, 0.1]" not in text  # long structures stay out of the summary table


def test_write_report_empty_campaign(tmp_path):
    text = write_report(tmp_path, {}, [], [], [], {}).read_text()
    assert "No candidate has been evaluated yet." in text
    assert "No hypotheses yet." in text and "No agenda recorded yet." in text


def test_the_front_lists_each_genome_once_at_its_latest_stage():
    """The reference on the front at isolated, cross and full is one row (full) that names the stages passed."""
    from evolve.figures import front_by_genome, genome_key

    ref = {"arch": "t"}
    front = [{"candidate": f"ref-{st}", "stage": st, "genomes": ref, "perf": 0.0} for st in ("isolated", "cross", "full")]
    front.append({"candidate": "new-iso", "stage": "isolated", "genomes": {"arch": "n"}, "perf": 0.2})
    rows = front_by_genome(front, {genome_key({"arch": "n"}): ["isolated", "cross"]})
    assert [(r["candidate"], r["stages"]) for r in rows] == [("ref-full", ["isolated", "cross", "full"]),
                                                             ("new-iso", ["isolated", "cross"])]


def test_lineage_perf_is_the_table_stage_or_labelled_with_its_stage():
    from types import SimpleNamespace as NS

    from evolve.figures import lineage_nodes

    def row(stage, triple, perf_by_domain):
        return NS(cand=NS(stage=stage, triple=triple), perf_by_domain=perf_by_domain)

    rows = [row("isolated", {"arch": "a"}, {"arch": 0.0149}), row("full", {"arch": "a"}, {"arch": 0.1542}),
            row("isolated", {"arch": "b"}, {"arch": -0.3}), row("cross", {"arch": "b"}, {"arch": -0.1})]
    front = [{"candidate": "c", "stage": "full", "genomes": {"arch": "a"}, "perf_by_domain": {"arch": 0.1542}}]
    kb = NS(genomes=lambda: [{"id": g, "domain": "arch", "parents": [], "origin": "gp"} for g in ("a", "b", "p")])
    nodes = lineage_nodes(kb, rows, front)
    assert (nodes["a"]["perf"], nodes["a"]["stage"]) == (0.1542, "full")  # as in the front table
    assert (nodes["b"]["perf"], nodes["b"]["stage"]) == (-0.1, "cross")  # its latest stage, named
    assert nodes["p"]["perf"] is None and nodes["p"]["stage"] is None  # never evaluated
