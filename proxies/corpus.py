"""The offline multi-source corpus and its byte-level token form.

`raw_corpus(cfg)` is the raw material a data-curation pipeline works on: clean documents of several kinds
(`corpus_sources`: reference-manual prose, docstrings, code, licences) plus degraded documents derived from
them with known provenance (`corpus_degrade`: duplicates, boilerplate and spam, word salad, mojibake,
noise, fragments), plus naturally noisy files of the install (`corpus_natural`: licences copied across
packages, machine-generated code, text in other languages). Each clean source is split once, by a content hash, into

- ``heldout``:   the clean evaluation set of that source (never degraded, never trained on);
- ``reference``: clean text a learned quality scorer may use as its positive class;
- train:         the clean part of the raw corpus, from which the degraded documents are also derived;
                 training documents that overlap held-out text (word 8-grams) are dropped first.

`TokenCorpus` is what a language-model proxy consumes: int32 byte tokens, documents separated by `EOT`.
`default_corpus(seed)` is the clean training text with no curation and no junk.

The built corpus is cached as JSON under ``$EVOLVE_CACHE/corpus`` (default ``~/.cache/evolve/corpus``)
and per process, so a warm load takes a fraction of a second. Only numpy and the standard library are used.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from proxies.cache import cache_root
from proxies.corpus_degrade import DEGRADED_KINDS, degrade, vocabulary
from proxies.corpus_natural import NATURAL_KINDS, NATURAL_SOURCE, fingerprint_files, natural_documents
from proxies.corpus_sources import CLEAN_SOURCES, fingerprint, read_source

VOCAB_SIZE = 256  # byte-level tokens
EOT = 0  # document separator; NUL never occurs inside a document (sources strip it)
KINDS: tuple[str, ...] = ("clean",) + DEGRADED_KINDS + NATURAL_KINDS  # provenance of every raw document
_BUILDER_VERSION = 7  # bump when the corpus construction changes, to invalidate caches


@dataclass(frozen=True)
class CorpusConfig:
    """How the offline raw corpus is built. The same config gives the same corpus on the same install."""

    source_bytes: int = 600_000  # clean text read per source, before the split (UTF-8 bytes)
    heldout_bytes: int = 40_000  # per source, held out for evaluation (at most a quarter of the source)
    reference_bytes: int = 40_000  # per source, reserved for quality scorers (at most a fifth)
    doc_chars: int = 3_000  # documents are cut at blank lines to at most this many characters
    junk_ratio: float = 1.0  # degraded bytes per clean training byte in the raw corpus
    kind_weights: tuple[tuple[str, float], ...] = (  # share of the degraded bytes per kind
        ("exact_dup", 2.0), ("near_dup", 1.5), ("boilerplate", 1.0), ("salad", 1.5),
        ("mojibake", 1.0), ("noise", 1.0), ("fragment", 0.5),
    )
    natural_bytes: int = 150_000  # per natural kind (corpus_natural: real duplicated, generated, foreign text)
    decontam_ngram: int = 8  # word n-gram length of the train/held-out overlap check
    decontam_overlap: float = 0.2  # drop training documents sharing more of their n-grams with held-out text
    sources: tuple[str, ...] = CLEAN_SOURCES
    seed: int = 0  # derives the degraded documents: the raw corpus is one fixed dataset, not per run

    @classmethod
    def tiny(cls) -> "CorpusConfig":
        """A few MB raw: builds in seconds on a laptop."""
        return cls(source_bytes=400_000, heldout_bytes=24_000, reference_bytes=80_000)

    @classmethod
    def small(cls) -> "CorpusConfig":
        """Tens of MB raw, for GPU-sized proxies."""
        return cls(source_bytes=6_000_000, heldout_bytes=200_000, reference_bytes=200_000, natural_bytes=2_000_000)

    @classmethod
    def preset(cls, name: str) -> "CorpusConfig":
        if name not in ("tiny", "small"):
            raise ValueError(f"unknown corpus preset {name!r} (tiny, small)")
        return getattr(cls, name)()


@dataclass(frozen=True, eq=False)
class RawCorpus:
    """Documents with their provenance: `source[i]` indexes `sources`, `kind[i]` indexes `kinds`
    ('clean', a template degradation or a natural kind), `parent[i]` is the clean document a template
    degraded (-1 if none), `origin[i]` says where the text came from: 'source:<name>' (a clean source),
    'template:<kind>' (corpus_degrade) or the file a natural document was read from (corpus_natural)."""

    texts: tuple[str, ...]
    source: np.ndarray  # (N,) int16
    kind: np.ndarray  # (N,) int8
    parent: np.ndarray  # (N,) int32
    sources: tuple[str, ...]
    heldout: Mapping[str, tuple[str, ...]]
    reference: Mapping[str, tuple[str, ...]]
    kinds: tuple[str, ...] = KINDS
    name: str = "offline"
    origin: tuple[str, ...] = ()  # empty where unknown (user corpora)

    def __len__(self) -> int:
        return len(self.texts)

    def nbytes(self) -> np.ndarray:
        """UTF-8 size of every document."""
        return np.fromiter((len(t.encode("utf-8")) for t in self.texts), np.int64, len(self.texts))

    def subset(self, index: np.ndarray) -> "RawCorpus":
        index = np.asarray(index, dtype=np.int64)
        return RawCorpus(tuple(self.texts[i] for i in index), self.source[index], self.kind[index],
                         self.parent[index], self.sources, self.heldout, self.reference, self.kinds, self.name,
                         tuple(self.origin[i] for i in index) if self.origin else ())


@dataclass(frozen=True, eq=False)
class TokenCorpus:
    """What an LM proxy trains and evaluates on (the `DataDomain.provide('corpus')` contract)."""

    train: np.ndarray  # (N,) int32 byte tokens, documents separated by EOT
    heldout: dict[str, np.ndarray]  # clean evaluation tokens per source
    vocab_size: int = VOCAB_SIZE
    details: dict[str, float] = field(default_factory=dict)  # e.g. kept fraction per source


# --- tokens --------------------------------------------------------------------------------------------


def encode(texts: Iterable[str]) -> np.ndarray:
    """Byte tokens of the documents, each preceded by EOT (int32)."""
    blob = b"".join(b"\x00" + t.encode("utf-8") for t in texts)
    return np.frombuffer(blob, dtype=np.uint8).astype(np.int32)


def decode(tokens: np.ndarray) -> list[str]:
    """Inverse of `encode` (invalid UTF-8 in model samples becomes U+FFFD)."""
    blob = np.asarray(tokens, dtype=np.uint8).tobytes()
    return [part.decode("utf-8", "replace") for part in blob.split(b"\x00")[1:]]


def token_corpus(texts: Sequence[str], heldout: Mapping[str, Sequence[str]], *,
                 details: Mapping[str, float] | None = None, max_bytes: int | None = None) -> TokenCorpus:
    """Tokenise training documents (cut to `max_bytes` tokens) and the held-out sets."""
    train = encode(texts)
    if max_bytes is not None:
        train = train[:max_bytes]
    return TokenCorpus(train=train, heldout={k: encode(v) for k, v in heldout.items()},
                       details=dict(details or {}))


# --- building and caching ------------------------------------------------------------------------------


def cache_dir() -> str:
    return os.path.join(cache_root(), "corpus")


def _split(docs: list[str], cfg: CorpusConfig) -> tuple[list[str], list[str], list[str]]:
    """(train, reference, heldout) by a content-hash order, so the split never depends on a run seed."""
    order = sorted(range(len(docs)), key=lambda i: hashlib.sha1(docs[i].encode("utf-8")).hexdigest())
    total = sum(len(d.encode("utf-8")) for d in docs)
    caps = (min(cfg.heldout_bytes, total // 4), min(cfg.reference_bytes, total // 5))
    parts: list[list[str]] = [[], [], []]  # heldout, reference, train
    filled = [0, 0]
    for i in order:
        size = len(docs[i].encode("utf-8"))
        slot = next((s for s in (0, 1) if filled[s] < caps[s]), 2)
        if slot < 2:
            filled[slot] += size
        parts[slot].append(docs[i])
    heldout, reference, train = parts
    return train, reference, heldout


def _ngram_hashes(text: str, n: int) -> np.ndarray:
    """Stable hashes of the word n-grams of `text` (crc32 per word, combined in numpy)."""
    words = np.fromiter((zlib.crc32(w.encode("utf-8")) for w in text.split()), np.uint64)
    if words.size < n:
        return np.zeros(0, np.uint64)
    h = np.zeros(words.size - n + 1, np.uint64)
    for k in range(n):
        h = h * np.uint64(1_000_003) + words[k:words.size - n + 1 + k]
    return h


def decontaminate(train: list[str], heldout: list[str], n: int, max_overlap: float) -> list[str]:
    """Drop training documents that share more than `max_overlap` of their word n-grams with the held-out
    set (GPT-3 style n-gram decontamination), so no evaluation text is learned by heart from a copy."""
    if not heldout or max_overlap >= 1.0:
        return train
    seen = np.unique(np.concatenate([_ngram_hashes(t, n) for t in heldout]))
    kept = []
    for text in train:
        grams = _ngram_hashes(text, n)
        if grams.size == 0 or np.isin(grams, seen).mean() <= max_overlap:
            kept.append(text)
    return kept


def _build(cfg: CorpusConfig) -> dict:
    rng = np.random.default_rng(cfg.seed)
    texts, source, kind, parent, origin = [], [], [], [], []
    heldout, reference, clean_by_source = {}, {}, {}
    for s, name in enumerate(cfg.sources):
        train, ref, held = _split(read_source(name, cfg.source_bytes, cfg.doc_chars), cfg)
        train = decontaminate(train, held, cfg.decontam_ngram, cfg.decontam_overlap)
        if not train or not held:
            raise RuntimeError(f"corpus source {name!r} found too little text on this install")
        heldout[name], reference[name] = held, ref
        clean_by_source[name] = (len(texts), train)
        texts += train
        source += [s] * len(train)
        kind += [0] * len(train)
        parent += [-1] * len(train)
        origin += [f"source:{name}"] * len(train)
    weights = dict(cfg.kind_weights)
    total_weight = sum(weights.values())
    for s, name in enumerate(cfg.sources):
        offset, train = clean_by_source[name]
        vocab = vocabulary(train, rng)
        clean_bytes = sum(len(d.encode("utf-8")) for d in train)
        for kind_name, w in weights.items():
            target = int(cfg.junk_ratio * clean_bytes * w / total_weight)
            for text, p in degrade(train, kind_name, target, rng, vocab):
                texts.append(text)
                source.append(s)
                kind.append(KINDS.index(kind_name))
                parent.append(offset + p)
                origin.append(f"template:{kind_name}")
    # Real noisy files, decontaminated against every held-out set (n-grams, as the clean training text) and
    # never a verbatim copy of a reference document (copies of clean licences are common among them).
    all_heldout = [t for held in heldout.values() for t in held]
    references = {t for ref in reference.values() for t in ref}
    for kind_name in NATURAL_KINDS:
        if NATURAL_SOURCE[kind_name] not in cfg.sources:
            continue
        found = natural_documents(kind_name, cfg.natural_bytes, cfg.doc_chars)
        clean = set(decontaminate([t for t, _ in found], all_heldout, cfg.decontam_ngram, cfg.decontam_overlap))
        for text, path in found:
            if text in clean and text not in references:
                texts.append(text)
                source.append(cfg.sources.index(NATURAL_SOURCE[kind_name]))
                kind.append(KINDS.index(kind_name))
                parent.append(-1)
                origin.append(path)
    # One fixed shuffle, so position says nothing about provenance (dedup keeps an arbitrary copy).
    perm = rng.permutation(len(texts))
    where = np.argsort(perm)  # old index -> new index
    texts = [texts[i] for i in perm]
    source, kind, origin = [source[i] for i in perm], [kind[i] for i in perm], [origin[i] for i in perm]
    parent = [int(where[parent[i]]) if parent[i] >= 0 else -1 for i in perm]
    return {"texts": texts, "source": source, "kind": kind, "parent": parent, "origin": origin,
            "heldout": heldout, "reference": reference, "sources": list(cfg.sources)}


def corpus_key(cfg: CorpusConfig) -> str:
    """Identifies the built corpus: builder version, install fingerprints, config."""
    blob = json.dumps([_BUILDER_VERSION, fingerprint(), fingerprint_files(), asdict(cfg)], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _load_or_build(cfg: CorpusConfig) -> dict:
    path = os.path.join(cache_dir(), f"raw-{corpus_key(cfg)}.json")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        pass
    data = _build(cfg)
    try:  # write atomically: several worker processes may build at once
        os.makedirs(cache_dir(), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir(), suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home still gets a corpus, just not a cached one
    return data


@functools.lru_cache(maxsize=4)
def raw_corpus(cfg: CorpusConfig = CorpusConfig.tiny()) -> RawCorpus:
    """The offline raw corpus for `cfg` (cached on disk and per process)."""
    if unknown := set(cfg.sources) - set(CLEAN_SOURCES):
        raise ValueError(f"unknown corpus sources {sorted(unknown)}; known: {CLEAN_SOURCES}")
    if unknown := {k for k, _ in cfg.kind_weights} - set(DEGRADED_KINDS):
        raise ValueError(f"unknown degradation kinds {sorted(unknown)}; known: {DEGRADED_KINDS}")
    data = _load_or_build(cfg)
    return RawCorpus(
        texts=tuple(data["texts"]),
        source=np.asarray(data["source"], dtype=np.int16),
        kind=np.asarray(data["kind"], dtype=np.int8),
        parent=np.asarray(data["parent"], dtype=np.int32),
        sources=tuple(data["sources"]),
        heldout={k: tuple(v) for k, v in data["heldout"].items()},
        reference={k: tuple(v) for k, v in data["reference"].items()},
        origin=tuple(data["origin"]),
    )


def default_corpus(seed: int = 0, max_bytes: int | None = None,
                   cfg: CorpusConfig = CorpusConfig.tiny()) -> TokenCorpus:
    """The clean offline corpus with no curation and no junk: every clean training document in a
    `seed`-shuffled order (cut to `max_bytes` tokens), plus the clean held-out sets per source."""
    raw = raw_corpus(cfg)
    clean = np.flatnonzero(raw.kind == 0)
    order = clean[np.random.default_rng(seed).permutation(len(clean))]  # the split itself is seed-free
    corpus = token_corpus([raw.texts[i] for i in order], raw.heldout, max_bytes=max_bytes)
    corpus.details.update({"train_tokens": float(corpus.train.size),
                           **{f"heldout_tokens/{s}": float(v.size) for s, v in corpus.heldout.items()}})
    return corpus
