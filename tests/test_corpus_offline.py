"""The offline corpus: byte tokens, deterministic splits, provenance of degraded documents, caching."""
import os

import numpy as np
import pytest

from proxies import corpus as corpus_mod
from proxies.corpus import (EOT, KINDS, VOCAB_SIZE, CorpusConfig, decode, default_corpus, encode, raw_corpus,
                            token_corpus)
from proxies.corpus_degrade import DEGRADED_KINDS, degrade, fragment, mojibake, salad
from proxies.corpus_natural import NATURAL_KINDS, NATURAL_SOURCE
from proxies.corpus_sources import CLEAN_SOURCES, chunk, is_generated, read_source, stdlib_dir

SMALL = CorpusConfig(source_bytes=60_000, heldout_bytes=8_000, reference_bytes=8_000)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EVOLVE_CACHE", str(tmp_path_factory.getbasetemp() / "evolve-cache"))


def test_encode_is_bytes_with_eot_separators():
    tokens = encode(["ab", "é"])
    assert tokens.dtype == np.int32
    assert tokens.tolist() == [EOT, 97, 98, EOT, 0xC3, 0xA9]
    assert decode(tokens) == ["ab", "é"]


def test_chunk_cuts_at_blank_lines_and_respects_size():
    text = "aaaa\n\nbbbb\n\ncccccccccc\ndd"
    assert chunk(text, 10) == ["aaaa\n\nbbbb", "cccccccccc", "dd"]
    assert all(len(p) <= 10 for p in chunk("x\n" * 50, 10))


def test_token_corpus_cuts_training_tokens():
    tc = token_corpus(["abcdef", "gh"], {"s": ["xy"]}, max_bytes=4, details={"k": 1.0})
    assert tc.train.tolist() == [EOT, 97, 98, 99]
    assert tc.heldout["s"].tolist() == [EOT, 120, 121]
    assert tc.vocab_size == VOCAB_SIZE and tc.details == {"k": 1.0}


def test_raw_corpus_provenance_and_disjoint_splits():
    raw = raw_corpus(SMALL)
    assert raw.sources == CLEAN_SOURCES
    templated = [KINDS.index(k) for k in ("clean",) + DEGRADED_KINDS]
    assert set(templated) <= set(np.unique(raw.kind))  # clean + every template degradation present
    clean = raw.kind == 0
    assert np.all(raw.parent[clean] == -1)
    degraded = np.flatnonzero(np.isin(raw.kind, templated[1:]))
    assert np.all(raw.kind[raw.parent[degraded]] == 0)  # parents are clean documents ...
    assert np.all(raw.source[raw.parent[degraded]] == raw.source[degraded])  # ... of the same source
    for i in np.flatnonzero(raw.kind == KINDS.index("exact_dup")):
        assert raw.texts[i] == raw.texts[raw.parent[i]]
    train = set(raw.texts)
    for name in CLEAN_SOURCES:
        assert raw.heldout[name] and raw.reference[name]
        assert not train & set(raw.heldout[name]) and not train & set(raw.reference[name])
        assert not set(raw.heldout[name]) & set(raw.reference[name])
    assert all(EOT not in encode([t])[1:] for t in raw.texts[:200])


def test_raw_corpus_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("EVOLVE_CACHE", str(tmp_path))
    built = corpus_mod._load_or_build(SMALL)
    assert list((tmp_path / "corpus").glob("raw-*.json"))
    monkeypatch.setattr(corpus_mod, "_build", lambda cfg: pytest.fail("cache was not used"))
    assert corpus_mod._load_or_build(SMALL) == built


def test_default_corpus_deterministic_clean_and_seeded():
    a, b, c = default_corpus(0), default_corpus(0), default_corpus(1)
    assert np.array_equal(a.train, b.train)
    assert a.train.size == c.train.size and not np.array_equal(a.train, c.train)
    assert np.array_equal(np.sort(a.train), np.sort(c.train))
    assert set(a.heldout) == set(CLEAN_SOURCES)
    assert all(v.dtype == np.int32 and v.size > 1000 for v in a.heldout.values())
    assert a.train.min() >= 0 and a.train.max() < VOCAB_SIZE
    assert default_corpus(0, max_bytes=1000).train.size == 1000


def test_degraders_make_the_damage_they_name():
    rng = np.random.default_rng(0)
    vocab = np.array(["alpha", "beta", "gamma"])
    assert "it’s".encode("utf-8").decode("cp1252") == "itâ€™s"
    text = "The quick brown fox jumps over the lazy dog. " * 10
    assert "Ã" in mojibake(text, rng, vocab)
    assert set(salad(text, rng, vocab).split()) <= {"alpha", "beta", "gamma"}
    piece = fragment(text, rng, vocab)
    assert 16 <= len(piece) < 160 and piece in text
    pairs = degrade([text, text + "!"], "noise", 2_000, rng, vocab)
    assert sum(len(t.encode()) for t, _ in pairs) >= 2_000 and {p for _, p in pairs} <= {0, 1}


def test_unknown_kind_or_source_is_a_clear_error():
    with pytest.raises(ValueError, match="degradation kinds"):
        raw_corpus(CorpusConfig(kind_weights=(("spam", 1.0),)))
    with pytest.raises(ValueError, match="sources"):
        raw_corpus(CorpusConfig(sources=("web",)))
    assert set(DEGRADED_KINDS) == set(dict(CorpusConfig().kind_weights))


def test_provenance_heldout_is_source_text_and_every_document_says_where_it_came_from():
    """Held-out and reference sets are text the clean readers returned (never a template's output nor a
    natural noisy file); every raw document's origin matches its kind; natural documents are verbatim
    pieces of the file they name."""
    import site
    import sysconfig

    raw = raw_corpus(SMALL)
    for name in CLEAN_SOURCES:
        readers = set(read_source(name, SMALL.source_bytes, SMALL.doc_chars))
        assert set(raw.heldout[name]) <= readers and set(raw.reference[name]) <= readers
    evaluated = {t for held in raw.heldout.values() for t in held}
    assert len(raw.origin) == len(raw)
    roots = {"stdlib": stdlib_dir(), "site-packages": [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]}
    for i, (kind, origin) in enumerate(zip(raw.kind, raw.origin)):
        name = KINDS[kind]
        if name == "clean":
            assert origin == f"source:{raw.sources[raw.source[i]]}"
        elif name in DEGRADED_KINDS:
            assert origin == f"template:{name}" and raw.parent[i] >= 0
        else:
            assert raw.sources[raw.source[i]] == NATURAL_SOURCE[name] and raw.parent[i] == -1
            assert raw.texts[i] not in evaluated
            label, rel = origin.split("/", 1)
            candidates = [roots["stdlib"]] if label == "stdlib" else roots["site-packages"]
            files = [os.path.join(r, rel) for r in candidates if os.path.isfile(os.path.join(r, rel))]
            assert files and raw.texts[i] in open(files[0], encoding="utf-8").read().replace("\x00", "")
    generated = [i for i in np.flatnonzero(raw.kind == KINDS.index("generated"))]
    assert generated, "the standard library's codec tables are machine-generated on every install"


def test_generated_files_are_recognised_by_their_header():
    codec = open(os.path.join(stdlib_dir(), "encodings", "cp1252.py"), encoding="utf-8").read()
    assert is_generated(codec)
    assert not is_generated(open(os.path.join(stdlib_dir(), "ast.py"), encoding="utf-8").read())
    assert set(NATURAL_KINDS) == set(NATURAL_SOURCE) and set(NATURAL_KINDS) <= set(KINDS)
