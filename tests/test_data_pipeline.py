"""Curation steps on hand-made documents: statistics, dedup, scorers, scoping, the token budget."""
import numpy as np
import pytest

from domains.data import dedup, quality
from domains.data.genome import Dedup, Filter, NearDedup, Quality
from domains.data.mixture import source_shares, training_tokens
from domains.data.pipeline import Context, Docs, kept_fractions, run_steps
from domains.data.stats import STAT_NAMES, document_stats
from proxies.corpus import EOT, decode

SOURCES = ("prose", "code")
PROSE = ("The cat sat on the mat. It was a sunny day and the cat was happy.\n"
         "Then the dog came in and the cat ran away to the garden.")


def _stats(text):
    return dict(zip(STAT_NAMES, document_stats([text])[0]))


def _docs(texts, sources=None, kinds=None):
    n = len(texts)
    return Docs(tuple(texts), np.asarray(sources if sources is not None else [0] * n),
                np.asarray(kinds if kinds is not None else [0] * n))


def test_statistics_exact_values():
    s = _stats("Hello world.\nHello world.\n# {x} ...\n")
    assert s["chars"] == 36 and s["words"] == 7
    assert s["dup_lines"] == pytest.approx(1 / 3)  # one of three non-empty lines repeats
    assert s["punct_lines"] == pytest.approx(3 / 3)  # '.', '.', '...'
    assert s["ellipsis_lines"] == pytest.approx(1 / 3)
    assert s["symbol_ratio"] == pytest.approx(2 / 7)  # one '#' and one '...'
    assert s["non_alpha_words"] == pytest.approx(2 / 7)  # '#' and '...'
    assert s["curly"] == pytest.approx(1000 / 36)
    assert s["non_ascii"] == 0.0 and _stats("é")["non_ascii"] == 1.0
    assert _stats("Cookie notice: this site uses cookies.\nfine line")["boiler_lines"] == 0.5
    assert _stats("the a of x y")["stop_words"] == pytest.approx(3 / 5)
    assert _stats("- a\n- b\nc")["bullet_lines"] == pytest.approx(2 / 3)


def test_repetition_statistics_separate_repeats_from_prose():
    spam = "buy cheap pills now " * 20
    assert _stats(spam)["dup_5gram"] == 1.0 and _stats(spam)["top_2gram"] > 0.2
    assert _stats(PROSE)["dup_5gram"] == 0.0


def test_filter_bounds_and_scope():
    docs = _docs(["a b", "a b c d e", "a b c d e f g h"], sources=[0, 1, 0])
    ctx = Context(SOURCES, reference=("x",))
    assert run_steps((Filter("words", min=3.0),), docs, ctx).texts == docs.texts[1:]
    assert run_steps((Filter("words", min=3.0, max=6.0),), docs, ctx).texts == (docs.texts[1],)
    kept = run_steps((Filter("words", min=6.0, on=("code",)),), docs, ctx)  # only the code doc is tested
    assert kept.texts == (docs.texts[0], docs.texts[2])


def test_exact_dedup_documents_and_paragraphs():
    assert dedup.exact_docs(["a  b", "c", "a b\n", "c"]).tolist() == [0, 1]
    para = "This paragraph is repeated boilerplate."
    out = dedup.exact_paragraphs([f"Intro one is unique here.\n\n{para}", f"{para}\n\nSecond unique paragraph.",
                                  para])
    assert out == [f"Intro one is unique here.\n\n{para}", "Second unique paragraph.", ""]
    docs = _docs(["x " * 30, "x " * 30 + "\n\n" + "y " * 30], kinds=[0, 2])
    kept = run_steps((Dedup("para"),), docs, Context(SOURCES, ("r",)))
    assert len(kept) == 2 and kept.texts[1].strip() == ("y " * 30).strip() and kept.kind.tolist() == [0, 2]


def test_minhash_near_dedup_catches_small_edits_only():
    words = PROSE.split() * 3
    near = list(words)
    near[10] = "tiger"
    other = "Completely different words about compilers, parsers and abstract syntax trees " * 3
    texts = [" ".join(words), " ".join(near), other]
    assert dedup.near_docs(texts, threshold=0.7, ngram=3, perms=128).tolist() == [0, 2]
    assert dedup.near_docs(texts, threshold=0.99, ngram=3, perms=128).tolist() == [0, 1, 2]


def test_top_fraction_per_group_exact():
    scores = np.array([5.0, 1.0, 4.0, 3.0, 2.0, 0.0])
    assert quality.top_fraction(scores, 0.5).tolist() == [0, 2, 3]
    groups = np.array([0, 0, 0, 1, 1, 1])
    assert quality.top_fraction(scores, 0.34, groups).tolist() == [0, 3]
    assert quality.top_fraction(scores, 0.01, groups).tolist() == [0, 3]  # one per group survives


@pytest.mark.parametrize("features", ["words", "chars", "ngram"])
def test_quality_scorers_prefer_reference_like_text(features):
    reference = [PROSE.replace("cat", animal) for animal in ("cat", "dog", "bird", "fox", "cow")] * 4
    clean = [PROSE.replace("cat", "horse"), PROSE.replace("cat", "mouse")]
    rng = np.random.default_rng(0)
    junk = [" ".join(rng.choice(PROSE.split(), size=25)) + " #~@ ¤¤" for _ in range(2)]
    noise = ["".join(rng.choice(list("#$%&*+/<=>@[]^_{|}~0123456789"), size=120)) for _ in range(2)]
    scores = quality.quality_scores(clean + junk + noise, reference, features, seed=0)
    assert scores[:2].min() > scores[4:].max()
    if features == "ngram":  # word order: salad scores below the same words in order
        assert scores[:2].min() > scores[2:4].max()


def test_quality_step_keeps_scores_and_scope():
    docs = _docs([PROSE, "zz qq " * 20, PROSE.replace("cat", "cow"), "#### %%%% " * 20], sources=[0, 0, 1, 1])
    kept = run_steps((Quality(keep=0.5, features="words", per_source=True, on=("prose",)),), docs,
                     Context(SOURCES, reference=(PROSE,) * 5))
    assert kept.texts == (PROSE, docs.texts[2], docs.texts[3])  # code docs untouched by a prose-only scorer
    assert np.isfinite(kept.score[0]) and np.isnan(kept.score[1:]).all()


def test_training_tokens_fill_the_budget_with_the_mixture():
    docs = _docs(["a" * 100, "b" * 100, "c" * 50], sources=[0, 0, 1])
    assert source_shares(docs, SOURCES, {}).tolist() == pytest.approx([0.8, 0.2])
    assert source_shares(docs, SOURCES, {"prose": 0.25}).tolist() == pytest.approx([0.5, 0.5])
    tokens, details = training_tokens(docs, SOURCES, {"prose": 0.25}, 1000, "shuffle", np.random.default_rng(0))
    assert tokens.size == 1000 and tokens.dtype == np.int32
    counts = {ch: int((tokens == ord(ch)).sum()) for ch in "abc"}
    assert counts["c"] == pytest.approx(counts["a"] + counts["b"], rel=0.15)  # 50/50 after reweighting
    assert details["epochs/code"] == pytest.approx(500 / 51)  # the code doc (+ EOT) repeats ~10 times
    assert set(decode(tokens)[1:-1]) <= {"a" * 100, "b" * 100, "c" * 50}
    assert (tokens == EOT).sum() > 10
    with pytest.raises(ValueError, match="kept no text"):
        training_tokens(docs, SOURCES, {"prose": 0.0, "code": 0.0}, 100, "shuffle", np.random.default_rng(0))


def test_quality_order_puts_best_documents_first():
    docs = Docs(("low " * 10, "high " * 10, "mid " * 10), np.zeros(3, int), np.zeros(3, int),
                score=np.array([0.0, 2.0, 1.0]))
    tokens, _ = training_tokens(docs, ("s",), {}, 120, "quality", np.random.default_rng(0))
    parts = decode(tokens)
    assert parts[:2] == ["high " * 10, "mid " * 10] and ("low " * 10).startswith(parts[2])


def test_kept_fractions_by_bytes():
    before = _docs(["aaaa", "bb", "cc"], sources=[0, 0, 1], kinds=[0, 1, 1])
    after = before.take(np.array([0, 2]))
    assert kept_fractions(before, after, SOURCES, "source") == {"prose": 4 / 6, "code": 1.0}
    kinds = kept_fractions(before, after, ("clean", "dup", "salad"), "kind")
    assert kinds["clean"] == 1.0 and kinds["dup"] == 0.5 and np.isnan(kinds["salad"])
