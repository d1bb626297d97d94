"""The data-curation domain: evolvable curation pipelines over a real offline corpus, scored by LM proxies."""
from domains.data.domain import DataDomain
from domains.data.user_corpus import validate_corpus_config

__all__ = ["DataDomain", "validate_corpus_config"]
