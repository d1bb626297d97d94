"""Bring-your-own corpora: file formats, the local Hugging Face cache, clear errors before a campaign."""
import json

import numpy as np
import pytest

from domains.data import DataDomain, validate_corpus_config
from domains.data.user_corpus import load_user_corpus, read_documents, resolve


def _write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _rows(n=60):
    return [{"text": f"Document number {i} talks about topic {i % 7} in plain words.", "src": "ab"[i % 2]}
            for i in range(n)]


def test_jsonl_with_sources_splits_eval_and_reference(tmp_path):
    path = _write_jsonl(tmp_path / "c.jsonl", _rows())
    raw = load_user_corpus({"corpus": str(path), "source_field": "src", "eval_fraction": 0.2,
                            "reference_fraction": 0.2})
    assert raw.sources == ("a", "b")
    assert set(raw.heldout) == {"a", "b"} and all(raw.heldout.values())
    assert any(raw.reference.values())
    assert not set(raw.texts) & {t for v in raw.heldout.values() for t in v}
    assert np.all(raw.kind == 0) and np.all(raw.parent == -1)
    assert len(raw.texts) + sum(map(len, raw.heldout.values())) + sum(map(len, raw.reference.values())) == 60


def test_parquet_json_and_text_directories(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"body": ["first doc", "second doc"]}), tmp_path / "a.parquet")
    (tmp_path / "b.json").write_text(json.dumps([{"body": "third doc"}]), encoding="utf-8")
    assert [t for t, _ in read_documents(str(tmp_path), text_field="body")] == ["first doc", "second doc",
                                                                                "third doc"]
    text_dir = tmp_path / "txt"
    text_dir.mkdir()
    (text_dir / "x.txt").write_text("para one\n\npara two", encoding="utf-8")
    assert read_documents(str(text_dir)) == [("para one\n\npara two", "user")]


def test_hugging_face_hub_cache_is_found_without_network(tmp_path, monkeypatch):
    snap = tmp_path / "hub" / "datasets--someone--tiny" / "snapshots" / "abc123" / "data"
    snap.mkdir(parents=True)
    _write_jsonl(snap / "train.jsonl", _rows(4))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "none"))
    assert resolve("someone/tiny") == [str(snap / "train.jsonl")]
    with pytest.raises(ValueError, match="nothing is downloaded"):
        resolve("someone/absent")


@pytest.mark.parametrize("content, message", [
    ('{"text": "ok"}\nnot json\n', "not JSON"),
    ('{"body": "no text field"}\n', "without text field 'text'"),
    ('{"text": 3}\n', "not text"),
    ('\n\n', "no non-empty documents"),
])
def test_bad_files_fail_before_the_campaign(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        validate_corpus_config({"corpus": str(path)})
    with pytest.raises(ValueError, match=message):
        DataDomain({"corpus": str(path)})


def test_unreadable_and_misconfigured_corpora_are_clear_errors(tmp_path):
    (tmp_path / "latin1.jsonl").write_bytes(b'{"text": "caf\xe9"}\n')
    with pytest.raises(ValueError, match="cannot read corpus file"):
        validate_corpus_config({"corpus": str(tmp_path / "latin1.jsonl")})
    with pytest.raises(ValueError, match="neither a readable file"):
        validate_corpus_config({"corpus": str(tmp_path / "missing.jsonl")})
    with pytest.raises(ValueError, match="eval_fraction"):
        validate_corpus_config({"corpus": str(tmp_path / "latin1.jsonl"), "eval_fraction": 0.9})
    with pytest.raises(ValueError, match="unknown corpus preset"):
        validate_corpus_config({"corpus": "offline", "corpus_preset": "huge"})
    validate_corpus_config({"corpus": "offline", "corpus_preset": "tiny"})  # the default is valid


def test_user_corpus_drives_the_domain_sources(tmp_path):
    path = _write_jsonl(tmp_path / "c.jsonl", _rows())
    domain = DataDomain({"corpus": str(path), "source_field": "src", "eval_fraction": 0.2,
                         "reference_fraction": 0.2})
    assert domain.sources == ("a", "b")
    g = domain.parse("filter(words, min=3.0, on=a) | mix(b=0.5) | order=shuffle")
    assert domain.check(g).ok
    assert not domain.check(domain.parse("none | mix(docs=2.0)")).ok
    corpus = domain.provide("corpus", g, seed=0)
    assert corpus.train.size > 0 and set(corpus.heldout) == {"a", "b"}
    assert corpus.details["kept/a"] == 1.0
