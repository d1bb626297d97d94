"""The readable text form of a curation genome, and its parser (`parse(to_text(g)) == g`).

    filter(mean_word_len, min=3.0, max=10.0) > dedup(unit=doc) > minhash(threshold=0.8, ngram=5, perms=64)
      > quality(keep=0.5, features=words, per_source=true, on=all) | mix(code=0.5) | order=shuffle

Steps are separated by `>`, global genes follow `|`. A filter names its statistic first and prints only
the bounds it sets; `on=a+b` restricts a step to sources a and b (`all` = every source); `none` is the
empty pipeline and `mix(natural)` the natural mixture. Omitted fields take their defaults.
"""
from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

from domains.base import GenomeError
from domains.data.genome import BY_TAG, TAGS, DataGenome, Filter, Step, canonical_mixture

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_CALL = re.compile(r"^\s*([a-z_]+)\s*\((.*)\)\s*$", re.S)


def _value(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return "+".join(v) if v else "all"
    return repr(v) if isinstance(v, (int, float)) else str(v)


def step_text(step: Step) -> str:
    if isinstance(step, Filter):
        args = [step.stat] + [f"{k}={_value(getattr(step, k))}" for k in ("min", "max")
                              if getattr(step, k) is not None]
        if step.on:
            args.append(f"on={_value(step.on)}")
    else:
        args = [f"{f.name}={_value(getattr(step, f.name))}" for f in fields(step)]
    return f"{TAGS[type(step)]}({', '.join(args)})"


def to_text(g: DataGenome) -> str:
    pipeline = " > ".join(step_text(s) for s in g.steps) or "none"
    mix = ", ".join(f"{s}={_value(w)}" for s, w in g.mixture) or "natural"
    return f"{pipeline} | mix({mix}) | order={g.order}"


# --- parsing -----------------------------------------------------------------------------------------


def _literal(text: str, field: str) -> Any:
    t = text.strip()
    if field == "on":
        if t == "all":
            return ()
        names = tuple(p.strip() for p in t.split("+"))
        if not all(_NAME.match(n) for n in names):
            raise GenomeError(f"bad source list {t!r} (write a+b or all)")
        return names
    if t == "none":
        return None
    if t in ("true", "false"):
        return t == "true"
    try:
        return int(t) if re.fullmatch(r"[+-]?\d+", t) else float(t)
    except ValueError:
        if _NAME.match(t):
            return t
        raise GenomeError(f"bad value {t!r} for {field}") from None


def parse_step(text: str) -> Step:
    match = _CALL.match(text)
    if not match or match.group(1) not in BY_TAG:
        raise GenomeError(f"bad step {text.strip()!r}; steps are {', '.join(f'{t}(...)' for t in BY_TAG)}")
    cls = BY_TAG[match.group(1)]
    names = {f.name for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for i, arg in enumerate(a for a in match.group(2).split(",") if a.strip()):
        key, eq, value = arg.partition("=")
        if not eq:
            if cls is Filter and i == 0:
                key, value = "stat", arg
            else:
                raise GenomeError(f"{match.group(1)}: argument {arg.strip()!r} needs name=value")
        key = key.strip()
        if key not in names or key in kwargs:
            raise GenomeError(f"{match.group(1)}: unknown or repeated argument {key!r}; fields: {sorted(names)}")
        kwargs[key] = value.strip() if key == "stat" else _literal(value, key)
    if cls is Filter and "stat" not in kwargs:
        raise GenomeError("filter: name the statistic first, e.g. filter(words, min=50)")
    return cls(**kwargs)


def parse(text: str) -> DataGenome:
    if not isinstance(text, str) or not text.strip():
        raise GenomeError("empty genome text")
    pipeline, *options = text.split("|")
    steps = () if pipeline.strip() in ("none", "") else tuple(parse_step(p) for p in pipeline.split(">"))
    mixture, order = (), "shuffle"
    for option in options:
        option = option.strip()
        if option.startswith("order="):
            order = option[len("order="):].strip()
        elif (m := _CALL.match(option)) and m.group(1) == "mix":
            body = m.group(2).strip()
            pairs = [] if body in ("natural", "") else [p.partition("=") for p in body.split(",")]
            if any(not eq or not _NAME.match(s.strip()) for s, eq, _ in pairs):
                raise GenomeError(f"bad mixture {option!r} (write mix(source=weight, ...))")
            weights = {s.strip(): _literal(w, "weight") for s, _, w in pairs}
            if any(isinstance(w, (bool, str)) or w is None for w in weights.values()):
                raise GenomeError(f"mixture weights must be numbers: {option!r}")
            mixture = canonical_mixture(weights)
        else:
            raise GenomeError(f"unknown option {option!r} (expected mix(...) or order=...)")
    return DataGenome(steps=steps, mixture=mixture, order=order)
