"""Domains find partners by the capability they need (`provides`), never by a partner's name."""
from __future__ import annotations

from domains.base import Domain, partner_providing
from tests.numeric_domain import NumericDomain


class CorpusMaker(NumericDomain):
    """A fourth domain, unknown to the others by name, that offers a corpus."""

    name = "corpus4"

    def provides(self, resource: str) -> bool:
        return resource == "corpus"

    def provide(self, resource: str, genome, **kwargs):
        if resource != "corpus":
            raise KeyError(resource)
        return ("corpus of", genome)


def test_the_partner_that_provides_a_resource_is_found_whatever_its_name():
    maker, other = CorpusMaker(), NumericDomain()
    assert isinstance(maker, Domain) and isinstance(other, Domain)
    triple = {"numeric": "g0", "corpus4": "g1"}
    partners = {"numeric": other, "corpus4": maker}
    partner, genome = partner_providing("corpus", triple, partners)
    assert partner is maker and genome == "g1"
    assert partner.provide("corpus", genome) == ("corpus of", "g1")
    assert partner_providing("model_fn", triple, partners) is None       # nobody offers it
    assert partner_providing("corpus", {"numeric": "g0"}, partners) is None  # the provider has no member
