"""Each domain's JSON schema (the LLM's structured-output constraint) against its own genomes.

Two directions: every genome the domain makes (baselines, samples, mutants) satisfies the schema; and
everything the schema admits either becomes a genome or is refused by from_json/check with a reason.
"""
from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from domains.base import CheckResult, GenomeError, genome_schema
from tests.numeric_domain import NumericConfig, NumericDomain
from tests.schema_sampler import sample

FUZZ = 200


def _domains():
    from domains.arch import ArchDomain
    from domains.data import DataDomain
    from domains.rl import RLDomain

    return {"arch": ArchDomain, "rl": RLDomain, "data": DataDomain,
            "numeric": lambda cfg: NumericDomain(NumericConfig.tiny())}


@pytest.fixture(scope="module", params=["arch", "rl", "data", "numeric"])
def domain(request):
    return _domains()[request.param]({})


def test_schema_is_valid_and_never_recursive(domain):
    schema = genome_schema(domain)
    jsonschema.Draft202012Validator.check_schema(schema)
    for name, sub in schema.get("$defs", {}).items():  # level d may only refer to lower levels
        level = int(name.rsplit("_", 1)[1])
        refs = [int(r.rsplit("_", 1)[1]) for r in _refs(sub)]
        assert all(r < level for r in refs), (name, refs)
    assert len(json.dumps(schema)) < 60_000  # the decoder compiles it once per request shape


def _refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def test_the_domains_own_genomes_satisfy_its_schema(domain):
    validator = jsonschema.Draft202012Validator(genome_schema(domain))
    rng = np.random.default_rng(0)
    genomes = list(domain.baselines().values())
    for _ in range(25):
        g = domain.sample(rng)
        genomes += [g, domain.mutate(g, rng), domain.crossover(g, genomes[0], rng)]
    for g in genomes:
        if domain.check(g).ok:
            errors = [e.message for e in validator.iter_errors(domain.to_json(g))]
            assert not errors, (domain.to_text(g), errors[:3])


def test_everything_the_schema_admits_parses_or_is_refused_with_a_reason(domain):
    schema = genome_schema(domain)
    validator = jsonschema.Draft202012Validator(schema)
    rng = np.random.default_rng(1)
    valid = 0
    for _ in range(FUZZ):
        data = sample(schema, rng)
        assert not list(validator.iter_errors(data))
        try:
            g = domain.from_json(json.loads(json.dumps(data)))
        except GenomeError as exc:
            assert str(exc), data
            continue
        res = domain.check(g)
        assert isinstance(res, CheckResult)
        if not res.ok:
            assert res.reason, data
            continue
        valid += 1
        assert domain.from_json(domain.to_json(g)) == g
    assert valid >= FUZZ // 10, f"only {valid}/{FUZZ} schema instances became valid genomes"
