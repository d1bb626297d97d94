"""Naturally noisy text found offline: damage no template made, each document with the file it came from.

Template degradations (`corpus_degrade`) are removed by filters built to spot them, so a filter's gain on
them is partly built in. These kinds are real files of this install, so a pipeline has to find them the
way it would on the web:

- ``natural_dup``: licence files copied verbatim across installed distributions (every copy after the one
                   the clean ``licences`` source reads); source ``licences``;
- ``generated``:   machine-generated Python (codec tables written by gencodec.py, protocol-buffer modules,
                   files whose header says a program wrote them); excluded from the clean ``code`` and
                   ``docstrings`` sources; source ``code``;
- ``foreign``:     text in other languages: translation catalogues (``*.po``) of installed packages and the
                   CJK sample texts of the standard library's codec tests, where installed; source ``docs``.

What an install lacks is absent (its kept fraction is then NaN). Files are visited in a hash order of their
paths, so a byte cap takes a spread sample. Only the standard library and the file system are used.
"""
from __future__ import annotations

import functools
import glob
import hashlib
import os
import site
import sysconfig
from collections.abc import Callable

from proxies.corpus_sources import _hash_key, _read, _stdlib_py_files, chunk, is_generated, licence_files, stdlib_dir

NATURAL_KINDS: tuple[str, ...] = ("natural_dup", "generated", "foreign")
NATURAL_SOURCE: dict[str, str] = {"natural_dup": "licences", "generated": "code", "foreign": "docs"}


def _site_roots() -> list[str]:
    return sorted(set(site.getsitepackages() + [sysconfig.get_paths()["purelib"]]))


def origin_of(path: str) -> str:
    """A path relative to the standard library or the site-packages directory holding it."""
    for root, label in [(stdlib_dir(), "stdlib")] + [(r, "site-packages") for r in _site_roots()]:
        if path.startswith(root + os.sep) and not (label == "stdlib" and "site-packages" in path[len(root):]):
            return f"{label}/{os.path.relpath(path, root)}"
    return path


def _head(path: str, chars: int = 600) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read(chars)
    except (OSError, UnicodeDecodeError):
        return ""


def duplicate_licence_files() -> list[str]:
    """Licence files whose text an earlier file (in the clean source's hash order) already has."""
    seen, copies = set(), []
    for path in sorted(licence_files(), key=_hash_key):
        text = _read(path)
        if not text or not text.strip():
            continue
        digest = _hash_key(text.strip())
        if digest in seen:
            copies.append(path)
        seen.add(digest)
    return copies


@functools.lru_cache(maxsize=1)
def _site_files(suffixes: tuple[str, ...] = ("_pb2.py", ".po")) -> dict[str, list[str]]:
    """Installed files by suffix, in one walk of the site-packages directories."""
    found: dict[str, list[str]] = {s: [] for s in suffixes}
    for root in _site_roots():
        for here, dirs, files in os.walk(root):
            dirs.sort()
            for f in files:
                for s in suffixes:
                    if f.endswith(s):
                        found[s].append(os.path.join(here, f))
    return found


def generated_files() -> list[str]:
    """Standard-library files a program wrote, and installed protocol-buffer modules."""
    found = [p for p in _stdlib_py_files() if is_generated(_head(p))] + _site_files()["_pb2.py"]
    return sorted(set(found), key=_hash_key)


def foreign_files() -> list[str]:
    """Translation catalogues of installed packages and the stdlib's CJK sample texts."""
    found = glob.glob(os.path.join(stdlib_dir(), "test", "cjkencodings", "*-utf8.txt")) + _site_files()[".po"]
    return sorted(set(found), key=_hash_key)


_FILES: dict[str, Callable[[], list[str]]] = {
    "natural_dup": duplicate_licence_files, "generated": generated_files, "foreign": foreign_files,
}


def natural_files() -> list[str]:
    """Every file the natural kinds may read (part of the corpus cache key)."""
    return [p for kind in NATURAL_KINDS for p in _FILES[kind]()]


def natural_documents(kind: str, max_bytes: int, doc_chars: int) -> list[tuple[str, str]]:
    """Up to `max_bytes` of (document, origin) of one natural kind, cut like the clean sources."""
    out, total = [], 0
    if max_bytes <= 0:
        return out
    for path in _FILES[kind]():
        text = _read(path)
        for piece in chunk(text or "", doc_chars):
            if len(piece) < 64:
                continue
            out.append((piece, origin_of(path)))
            total += len(piece.encode("utf-8"))
            if total >= max_bytes:
                return out
    return out


def fingerprint_files() -> str:
    return hashlib.sha1("\n".join(natural_files()).encode()).hexdigest()[:12]
