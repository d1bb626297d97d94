"""Clean text sources that exist offline on every machine with Python.

Four kinds of text, each a real register a language model should learn:

- ``docs``:       the Python reference manual as prose (``pydoc_data/topics.py``, what ``help()`` shows);
- ``docstrings``: module, class and function docstrings of the standard library (read with ``ast``;
                  nothing is imported, so no module code ever runs);
- ``code``:       standard-library source code (machine-generated files excluded: see ``is_generated``);
- ``licences``:   licence texts (the interpreter's ``LICENSE.txt`` and those of installed distributions).

Files are visited in a hash order of their relative paths, so a byte cap takes a stable spread sample of
the library rather than its alphabetical head. Long texts are cut at blank lines into documents of at most
``doc_chars`` characters. Only the standard library, the stdlib ``ast`` and the file system are used.
"""
from __future__ import annotations

import ast
import glob
import hashlib
import inspect
import os
import re
import site
import sysconfig
from collections.abc import Callable, Iterator

CLEAN_SOURCES: tuple[str, ...] = ("docs", "docstrings", "code", "licences")

# Headers that mark a file as machine-generated (codec tables, protobuf modules, build configuration):
# such files are naturally noisy text (`corpus_natural`), never part of a clean source.
_GENERATED = re.compile(r"gencodec\.py|DO NOT EDIT|[Aa]uto-?generated|[Aa]utomatically generated|"
                        r"[Gg]enerated by (the )?(protocol buffer compiler|\S+\.py)|configuration generated")

# Test suites hold deliberately odd strings (encodings, fuzz inputs); vendored trees repeat other sources.
_SKIP_DIRS = frozenset({"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__",
                        "ensurepip", "lib2to3", "turtledemo"})


def stdlib_dir() -> str:
    return sysconfig.get_paths()["stdlib"]


def _hash_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()


def _stdlib_py_files() -> list[str]:
    """All standard-library ``.py`` files outside test suites, in a stable hash order."""
    root = stdlib_dir()
    found = []
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        found += [os.path.relpath(os.path.join(here, f), root) for f in files if f.endswith(".py")]
    return [os.path.join(root, rel) for rel in sorted(found, key=_hash_key)]


def is_generated(text: str) -> bool:
    """Whether the file's header says a program wrote it (its first 600 characters)."""
    return bool(_GENERATED.search(text[:600]))


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):
        return None


def chunk(text: str, max_chars: int) -> list[str]:
    """Cut `text` at blank lines (else at line ends) into pieces of at most `max_chars` characters."""
    text = text.replace("\x00", "").strip()
    if not text:
        return []
    pieces, current = [], ""
    for para in text.split("\n\n"):
        while len(para) > max_chars:  # a paragraph longer than a document: cut at a line end
            cut = para.rfind("\n", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            head, para = para[:cut], para[cut:].lstrip("\n")
            if current:
                pieces.append(current)
                current = ""
            pieces.append(head)
        if current and len(current) + 2 + len(para) > max_chars:
            pieces.append(current)
            current = para
        else:
            current = f"{current}\n\n{para}" if current else para
    if current:
        pieces.append(current)
    return [p.strip() for p in pieces if p.strip()]


def _docs_texts() -> Iterator[str]:
    """The reference-manual topics: a dict literal, read with ast.literal_eval (never executed)."""
    source = _read(os.path.join(stdlib_dir(), "pydoc_data", "topics.py"))
    if source is None:
        return
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            topics = ast.literal_eval(node.value)
            for key in sorted(topics, key=_hash_key):
                yield topics[key]


def _docstrings_of(source: str) -> str:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ""
    nodes = [tree] + [n for n in ast.walk(tree)
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    parts = []
    for node in nodes:
        doc = ast.get_docstring(node, clean=False)
        if doc and len(doc.split()) >= 4:
            parts.append(inspect.cleandoc(doc))
    return "\n\n".join(parts)


def _docstring_texts() -> Iterator[str]:
    for path in _stdlib_py_files():
        source = _read(path)
        if source and not is_generated(source):
            yield _docstrings_of(source)


def _code_texts() -> Iterator[str]:
    for path in _stdlib_py_files():
        source = _read(path)
        if source and not is_generated(source):
            yield source


def licence_files() -> list[str]:
    """The interpreter's licence plus installed distributions' licence files, sorted by path."""
    paths = [os.path.join(stdlib_dir(), "LICENSE.txt")]
    roots = sorted(set(site.getsitepackages() + [sysconfig.get_paths()["purelib"]]))
    for root in roots:
        for pattern in ("*.dist-info/LICEN[CS]E*", "*.dist-info/COPYING*", "*.dist-info/licenses/**/*"):
            paths += sorted(glob.glob(os.path.join(root, pattern), recursive=True))
    return [p for p in paths if os.path.isfile(p)]


def _licence_texts() -> Iterator[str]:
    seen = set()
    for path in sorted(licence_files(), key=_hash_key):
        text = _read(path)
        if text and text.strip() and (digest := _hash_key(text.strip())) not in seen:
            seen.add(digest)
            yield text


_READERS: dict[str, Callable[[], Iterator[str]]] = {
    "docs": _docs_texts, "docstrings": _docstring_texts, "code": _code_texts, "licences": _licence_texts,
}


def read_source(name: str, max_bytes: int, doc_chars: int) -> list[str]:
    """Up to `max_bytes` of clean documents of source `name` (deterministic for a given install)."""
    docs, total, seen = [], 0, set()
    for text in _READERS[name]():
        for piece in chunk(text, doc_chars):
            digest = _hash_key(piece)
            if len(piece) < 64 or digest in seen:  # exact duplicates never enter a *clean* source
                continue
            seen.add(digest)
            docs.append(piece)
            total += len(piece.encode("utf-8"))
            if total >= max_bytes:
                return docs
    return docs


def fingerprint() -> str:
    """Changes when the text the sources read could have changed (interpreter, installed licences)."""
    import sys

    parts = [sys.version, stdlib_dir()] + licence_files()
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]
