"""`python -m evolve.export RUN_DIR|GENOME --to torch`: a discovered genome as a model of another framework.

The engine only finds the genome and the domain's settings; the domain writes the model through its
optional `export(genome, to, out, **options)` method (arch: a PyTorch nn.Module, see
domains/arch/torch_export.py), so no framework code lives in evolve/.

RUN_DIR: a campaign's run directory; the genome is `--genome ID` (an id or a unique prefix, as the
report prints it) or the domain's incumbent in `summary.json`, built at the run's scale.
GENOME: the genome's text form, or a file holding its JSON or text form; built at `--scale`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from domains.base import canonical_json, genome_id
from evolve.knowledge import KnowledgeBase, KnowledgeBaseError
from evolve.plugins import PluginError, build_domain, domain_config

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


class ExportError(ValueError):
    """The source, genome or domain cannot be exported; the message says what to pass instead."""


def _run_config(run_dir: Path) -> dict[str, Any]:
    db = run_dir / "knowledge.db"
    try:
        kb = KnowledgeBase.existing(db, read_only=True)
    except (FileNotFoundError, KnowledgeBaseError) as exc:
        raise ExportError(f"{db} is not a readable knowledge base ({exc})") from None
    try:
        cfg = kb.get_meta("config")
    finally:
        kb.close()
    if cfg is None:
        raise ExportError(f"{db} holds no campaign config")
    return cfg


def _stored_genome(run_dir: Path, domain: str, wanted: str | None) -> dict[str, Any]:
    """The genome row `wanted` (id or unique prefix) of `domain`, or the incumbent of summary.json."""
    if wanted is None:
        summary = run_dir / "summary.json"
        if not summary.exists():
            raise ExportError(f"{summary} does not exist; name the genome with --genome ID")
        wanted = (json.loads(summary.read_text()).get("incumbents") or {}).get(domain)
        if wanted is None:
            raise ExportError(f"{summary} has no {domain} incumbent; name the genome with --genome ID")
    kb = KnowledgeBase.existing(run_dir / "knowledge.db", read_only=True)
    try:
        rows = [g for g in kb.genomes(domain) if g["id"].startswith(wanted)]
    finally:
        kb.close()
    if len(rows) != 1:
        what = "no" if not rows else f"{len(rows)}"
        raise ExportError(f"{what} {domain} genomes in {run_dir} match {wanted!r}; give a longer id")
    return {"id": rows[0]["id"], "json": rows[0]["json"]}


def _default_domain_config(domain: str, scale: str) -> dict[str, Any]:
    path = CONF_DIR / "domain" / f"{domain}.yaml"
    if not path.exists():
        raise ExportError(f"no conf/domain/{domain}.yaml")
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=True)["domains"][domain]
    scale_path = CONF_DIR / "scale" / f"{scale}.yaml"
    device = OmegaConf.load(scale_path).get("device", "cpu") if scale_path.exists() else "cpu"
    return domain_config(raw, scale, str(device))


def _genome_from_text(domain_obj: Any, source: str) -> Any:
    text = Path(source).read_text() if Path(source).is_file() else source
    try:
        return domain_obj.from_json(json.loads(text))
    except json.JSONDecodeError:
        return domain_obj.parse(text.strip())


def resolve(source: str, *, domain: str, genome: str | None, scale: str) -> tuple[Any, Any, str, Path]:
    """(domain object, genome, genome id, default output directory) for a run directory or a genome."""
    src = Path(source)
    if (src / "knowledge.db").exists():
        cfg = _run_config(src)
        if domain not in cfg.get("domains", {}):
            raise ExportError(f"run {src} has no {domain!r} domain (it has {', '.join(cfg.get('domains', {}))})")
        dcfg = domain_config(cfg["domains"][domain], cfg["scale"]["name"], cfg["scale"]["device"])
        dom = build_domain(domain, dcfg)
        row = _stored_genome(src, domain, genome)
        return dom, dom.from_json(row["json"]), row["id"], src / "export"
    if src.is_dir():
        raise ExportError(f"{src} is a directory without knowledge.db: not a run directory")
    dom = build_domain(domain, _default_domain_config(domain, scale))
    g = _genome_from_text(dom, source)
    return dom, g, genome_id(domain, json.loads(canonical_json(dom.to_json(g)))), Path("export")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evolve.export", description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="a run directory, a genome's text form, or a file with its JSON/text form")
    ap.add_argument("--to", default="torch", help="target framework (arch: torch)")
    ap.add_argument("--domain", default="arch", help="whose genome (default arch)")
    ap.add_argument("--genome", help="genome id or unique prefix in the run (default: the incumbent)")
    ap.add_argument("--scale", default="tiny", help="the scale a genome given as text is built at")
    ap.add_argument("--out", help="output directory (default RUN_DIR/export/<id>-<to> or export/<id>-<to>)")
    ap.add_argument("--train", action="store_true",
                    help="train the proxy at the scale's full-stage budget on the default corpus before exporting")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        dom, g, gid, out_root = resolve(args.source, domain=args.domain, genome=args.genome, scale=args.scale)
        check = dom.check(g)
        if not check.ok:
            raise ExportError(f"genome {gid} fails the {args.domain} domain's check: {check.reason}")
        if not callable(getattr(dom, "export", None)):
            raise ExportError(f"the {args.domain} domain has no export")
        out = Path(args.out) if args.out else out_root / f"{gid}-{args.to}"
        paths = dom.export(g, to=args.to, out=out, train=args.train, seed=args.seed)
    except (ExportError, PluginError, ValueError, ImportError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"exported {args.domain} genome {gid} ({dom.to_text(g)})")
    for what, path in paths.items():
        print(f"  {what}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
