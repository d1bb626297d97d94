"""The readable text form of a genome, and its parser (`parse(to_text(g)) == g`).

    rms > attn(heads=4, window=none, rope=true) ; rms > mlp(expansion=4.0, activation=gelu(x)) | tied=true

Sublayers are separated by `;`, the parts of a sublayer by `>` (norm > mixer [> gate(expr)]),
and global genes follow `|`. None of `; > |` can occur inside a mixer or an expression, so
the top level splits on them and a small recursive-descent parser reads each mixer call.
`to_text` prints every field; `parse` also accepts omitted fields (their defaults).
"""
from __future__ import annotations

from dataclasses import fields
from typing import Any

from domains.arch import expr as ex
from domains.arch.genome import (
    BY_TAG, EXPR_FIELDS, OPTIONAL_FIELDS, TAGS, ArchGenome, Mixer, Parallel, Sublayer, build_mixer,
    check_field,
)
from domains.base import GenomeError
from domains.expr_tree import Parser


def to_text(g: ArchGenome) -> str:
    body = " ; ".join(_sublayer_text(s) for s in g.layers)
    return f"{body} | tied={_value(g.tied)}"


def _sublayer_text(s: Sublayer) -> str:
    parts = [s.norm, mixer_text(s.mixer)]
    if s.gate is not None:
        parts.append(f"gate({ex.to_text(s.gate)})")
    return " > ".join(parts)


def mixer_text(m: Mixer) -> str:
    if isinstance(m, Parallel):
        return f"par({', '.join(mixer_text(b) for b in m.branches)})"
    args = ", ".join(f"{f.name}={_value(getattr(m, f.name))}" for f in fields(m))
    return f"{TAGS[type(m)]}({args})"


def _value(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return ex.to_text(v)


# --- parsing ---------------------------------------------------------------------------------
def parse(text: str) -> ArchGenome:
    if not isinstance(text, str) or not text.strip():
        raise GenomeError("empty genome text")
    body, _, options = text.partition("|")
    layers = tuple(_parse_sublayer(part) for part in body.split(";"))
    tied = True
    if options.strip():
        for item in options.split(","):
            key, eq, val = item.partition("=")
            if key.strip() != "tied" or not eq:
                raise GenomeError(f"unknown global gene {item.strip()!r}; allowed: tied=true|false")
            tied = check_field("arch", "tied", _scalar(val.strip()))
    return ArchGenome(layers, tied)


def _parse_sublayer(text: str) -> Sublayer:
    parts = [p.strip() for p in text.split(">")]
    if not 2 <= len(parts) <= 3 or not all(parts):
        raise GenomeError(f"a sublayer is 'norm > mixer(...)' or 'norm > mixer(...) > gate(expr)', got {text.strip()!r}")
    norm = check_field("sublayer", "norm", parts[0])
    mixer = parse_mixer(parts[1])
    gate = None
    if len(parts) == 3:
        p = ex.parser(parts[2])
        if p.word() != "gate":
            raise GenomeError(f"the third part of a sublayer must be gate(expr), got {parts[2]!r}")
        p.expect("(")
        gate = p.expr()
        p.expect(")")
        p.end()
    return Sublayer(norm, mixer, gate)


def parse_mixer(text: str) -> Mixer:
    p = ex.parser(text)
    m = _mixer(p)
    p.end()
    return m


def _mixer(p: Parser) -> Mixer:
    tag = p.word()
    if tag not in BY_TAG:
        raise GenomeError(f"unknown mixer {tag!r}; expected one of {sorted(BY_TAG)}")
    cls = BY_TAG[tag]
    p.expect("(")
    if cls is Parallel:
        branches = [_mixer(p)]
        while p.peek() == ",":
            p.expect(",")
            branches.append(_mixer(p))
        p.expect(")")
        return build_mixer(Parallel, {"branches": tuple(branches)})
    names = [f.name for f in fields(cls)]
    kwargs: dict[str, Any] = {}
    while p.peek() != ")":
        if kwargs:
            p.expect(",")
        name = p.word()
        if name not in names:
            raise GenomeError(f"{tag} has no field {name!r}; fields: {', '.join(names)}")
        if name in kwargs:
            raise GenomeError(f"{tag}.{name} given twice")
        p.expect("=")
        if name in EXPR_FIELDS:
            start = p.i
            if p.word() == "none" and (tag, name) in OPTIONAL_FIELDS:
                kwargs[name] = None
            else:
                p.i = start
                kwargs[name] = p.expr()
        else:
            kwargs[name] = check_field(tag, name, _scalar(p.word()))
    p.expect(")")
    return build_mixer(cls, kwargs)


def _scalar(w: str) -> Any:
    if w == "none":
        return None
    if w in ("true", "false"):
        return w == "true"
    try:
        return int(w)
    except ValueError:
        pass
    try:
        return float(w)
    except ValueError:
        raise GenomeError(f"expected a number, true/false or none, got {w!r}") from None
