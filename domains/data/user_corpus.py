"""Bring your own corpus: local JSONL/JSON/Parquet/Arrow/text files, or a Hugging Face dataset that is
already in the local cache (nothing is downloaded).

`data.corpus` names a file, a directory of such files, or a dataset name (`owner/name`) found under
``$HF_DATASETS_CACHE`` / ``~/.cache/huggingface/datasets`` (Arrow files written by `datasets`) or under
``$HF_HUB_CACHE`` / ``~/.cache/huggingface/hub`` (a downloaded dataset repository's Parquet/JSONL files).
Records give the document text in `text_field` and, optionally, a source name in `source_field` (mixture
weights act on sources). The clean evaluation text comes from `eval_corpus` when given, else a hash-chosen
`eval_fraction` of each source is held out; the quality scorer's reference text comes from
`reference_corpus`, else another hash-chosen slice (give a clean one: the default is only as clean as the
corpus). `validate_corpus_config` checks all of this cheaply, before a campaign starts.
"""
from __future__ import annotations

import glob
import gzip
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from proxies.corpus import CorpusConfig, RawCorpus
from proxies.corpus_sources import chunk

SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet", ".arrow", ".txt", ".md")
OFFLINE = ("offline", None, "")


def _hf_roots(kind: str) -> list[str]:
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    if kind == "datasets":
        return [os.environ.get("HF_DATASETS_CACHE") or os.path.join(home, "datasets")]
    return [os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")]


def _data_files(root: str) -> list[str]:
    files = [p for p in glob.glob(os.path.join(root, "**", "*"), recursive=True)
             if os.path.isfile(p) and p.endswith(SUFFIXES) and not os.path.basename(p).startswith(("cache-", "."))]
    return sorted(files)


def resolve(spec: str) -> list[str]:
    """The data files a corpus spec names; ValueError with what was tried if there are none."""
    spec = os.path.expanduser(str(spec))
    if os.path.isfile(spec):
        if not spec.endswith(SUFFIXES):
            raise ValueError(f"corpus file {spec!r} has an unsupported type; use one of {', '.join(SUFFIXES)}")
        return [spec]
    if os.path.isdir(spec):
        files = _data_files(spec)
        if not files:
            raise ValueError(f"corpus directory {spec!r} holds no {', '.join(SUFFIXES)} files")
        return files
    tried = [spec]
    if "/" in spec or spec.replace("-", "").replace("_", "").isalnum():
        for root in _hf_roots("datasets"):
            path = os.path.join(root, spec.replace("/", "___"))
            tried.append(path)
            if os.path.isdir(path) and (files := [f for f in _data_files(path) if f.endswith(".arrow")]):
                return files
        for root in _hf_roots("hub"):
            path = os.path.join(root, "datasets--" + spec.replace("/", "--"), "snapshots")
            tried.append(path)
            snapshots = sorted(glob.glob(os.path.join(path, "*")))
            if snapshots and (files := _data_files(snapshots[-1])):
                return files
    raise ValueError(f"corpus {spec!r} is neither a readable file or directory nor a Hugging Face dataset in the "
                     f"local cache (looked at: {', '.join(tried)}); nothing is downloaded")


def _records(path: str) -> Iterator[Any]:
    if path.endswith((".jsonl", ".jsonl.gz")):
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{path}:{line_no}: not JSON ({exc.msg})") from None
    elif path.endswith(".json"):
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        yield from (data.get("data", data.get("rows", [])) if isinstance(data, dict) else data)
    elif path.endswith((".parquet", ".arrow")):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:  # pragma: no cover - pyarrow ships with the project's dependencies
            raise ValueError(f"reading {path} needs pyarrow: {exc}") from None
        if path.endswith(".parquet"):
            batches = pq.ParquetFile(path).iter_batches(batch_size=1024)
        else:
            with pa.memory_map(path) as source:
                try:
                    table = pa.ipc.open_stream(source).read_all()
                except pa.ArrowInvalid:
                    table = pa.ipc.open_file(source).read_all()
            batches = table.to_batches(max_chunksize=1024)
        for batch in batches:
            yield from batch.to_pylist()
    else:  # plain text: one file, cut into documents at blank lines
        with open(path, encoding="utf-8") as fh:
            yield from ({"text": piece} for piece in chunk(fh.read(), 3000))


def read_documents(spec: str, text_field: str = "text", source_field: str | None = None,
                   max_docs: int | None = None, default_source: str = "user") -> list[tuple[str, str]]:
    """(text, source) pairs from a corpus spec; ValueError on unreadable files or missing fields."""
    out: list[tuple[str, str]] = []
    for path in resolve(spec):
        try:
            for record in _records(path):
                if isinstance(record, str):
                    record = {text_field: record}
                if not isinstance(record, Mapping) or text_field not in record:
                    keys = sorted(record) if isinstance(record, Mapping) else type(record).__name__
                    raise ValueError(f"{path}: record without text field {text_field!r} (has {keys})")
                text = record[text_field]
                if not isinstance(text, str):
                    raise ValueError(f"{path}: field {text_field!r} is {type(text).__name__}, not text")
                source = str(record.get(source_field) or default_source) if source_field else default_source
                if text.strip():
                    out.append((text.replace("\x00", "").strip(), source))
                if max_docs is not None and len(out) >= max_docs:
                    return out
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read corpus file {path}: {exc}") from None
    if not out:
        raise ValueError(f"corpus {spec!r} holds no non-empty documents in field {text_field!r}")
    return out


def _bucket(text: str) -> float:
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big") / 2.0**64


def load_user_corpus(cfg: Mapping[str, Any]) -> RawCorpus:
    """A RawCorpus from the user's data (every document 'clean' as far as provenance goes: unknown)."""
    fields = dict(text_field=cfg.get("text_field", "text"), source_field=cfg.get("source_field"))
    docs = read_documents(cfg["corpus"], max_docs=cfg.get("max_docs"), **fields)
    eval_fraction, ref_fraction = float(cfg.get("eval_fraction", 0.05)), float(cfg.get("reference_fraction", 0.05))
    heldout_docs = read_documents(cfg["eval_corpus"], **fields) if cfg.get("eval_corpus") else []
    reference_docs = read_documents(cfg["reference_corpus"], **fields) if cfg.get("reference_corpus") else []
    train = []
    for text, source in docs:
        u = _bucket(text)
        if not cfg.get("eval_corpus") and u < eval_fraction:
            heldout_docs.append((text, source))
        elif not cfg.get("reference_corpus") and u < eval_fraction + ref_fraction:
            reference_docs.append((text, source))
        else:
            train.append((text, source))
    sources = tuple(sorted({s for _, s in train}))
    if not train:
        raise ValueError(f"corpus {cfg['corpus']!r}: no training documents left after holding out evaluation text")
    heldout = {s: tuple(t for t, src in heldout_docs if src == s) for s in sources}
    if missing := [s for s, v in heldout.items() if not v]:
        pooled = tuple(t for t, _ in heldout_docs)
        if not pooled:
            raise ValueError(f"corpus {cfg['corpus']!r}: no evaluation text (raise eval_fraction or set eval_corpus)")
        heldout = {s: (v or pooled) for s, v in heldout.items()}
    reference = {s: tuple(t for t, src in reference_docs if src == s) for s in sources}
    if not any(reference.values()):
        raise ValueError(f"corpus {cfg['corpus']!r}: no reference text for the quality scorer "
                         "(raise reference_fraction or set reference_corpus)")
    return RawCorpus(texts=tuple(t for t, _ in train),
                     source=np.asarray([sources.index(s) for _, s in train], dtype=np.int16),
                     kind=np.zeros(len(train), dtype=np.int8), parent=np.full(len(train), -1, dtype=np.int32),
                     sources=sources, heldout=heldout, reference=reference, name=str(cfg["corpus"]))


def validate_corpus_config(cfg: Mapping[str, Any]) -> None:
    """Raise ValueError, before a campaign starts, if the configured corpus cannot be used."""
    spec = cfg.get("corpus", "offline")
    if spec in OFFLINE:
        CorpusConfig.preset(str(cfg.get("corpus_preset", "tiny")))
        return
    for key in ("eval_fraction", "reference_fraction"):
        value = cfg.get(key, 0.05)
        if not isinstance(value, (int, float)) or not 0.0 <= float(value) < 0.5:
            raise ValueError(f"data.{key} must be a number in [0, 0.5), got {value!r}")
    fields = dict(text_field=cfg.get("text_field", "text"), source_field=cfg.get("source_field"))
    for key in ("corpus", "eval_corpus", "reference_corpus"):
        if cfg.get(key):
            try:  # every record the run will read (a bad line 51 must fail here, not in a worker)
                read_documents(cfg[key], max_docs=cfg.get("max_docs") if key == "corpus" else None, **fields)
            except ValueError as exc:
                raise ValueError(f"data.{key}: {exc}") from None
