"""The control every curation gain needs: a random filter that keeps the same fraction of tokens.

A pipeline that keeps a fraction f of the raw corpus's tokens (bytes) is compared with a random subset of
documents holding f of the tokens, drawn with the evaluation's seed and then evaluated identically (natural
mixture, shuffled order, same token budget, same model and LM seed, same held-out sets). Its gain over that
control is what curation adds beyond "keep less data".

Controls are shared: f is rounded to a geometric bucket (`bucket`), and a control's held-out losses are
cached per (bucket, model or arch partner, stage budget, seed) in memory and, for the offline corpus, on
disk under ``$EVOLVE_CACHE/data_controls`` (a control is a deterministic function of that key, which also
holds a hash of the proxies/ and domains/ sources, so a code change never reuses a stale control), so one
training serves every pipeline that lands in the same bucket (docs/domains/data.md).
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from domains.data.pipeline import Docs
from proxies.cache import cache_root

CONTROL_VERSION = 1  # bump when what a control is or how it is evaluated changes (invalidates disk caches)


def bucket(fraction: float, ratio: float) -> float:
    """`fraction` rounded to the nearest power of `ratio` (<= 1): the kept fraction the control keeps.
    Within a bucket fractions differ by at most a factor sqrt(ratio) from the control's."""
    if not 0.0 < fraction:
        raise ValueError(f"kept fraction must be positive, got {fraction}")
    if ratio <= 1.0:
        return min(1.0, float(fraction))
    return min(1.0, float(ratio ** round(math.log(fraction) / math.log(ratio))))


def random_filter(docs: Docs, fraction: float, rng: np.random.Generator) -> Docs:
    """A uniformly random subset of documents holding about `fraction` of the bytes (never empty)."""
    if fraction >= 1.0:
        return docs
    nbytes = docs.nbytes()
    order = rng.permutation(len(docs))
    cum = np.cumsum(nbytes[order])
    target = fraction * cum[-1]
    n = int(np.searchsorted(cum, target))  # cum[n-1] < target <= cum[n]
    if n < len(order) and (n == 0 or cum[n] - target < target - cum[n - 1]):
        n += 1  # take the document that brings the total closer to the target
    return docs.take(np.sort(order[: max(1, n)]))


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of every source file of the proxies and domains packages (what a control's result depends on)."""
    import domains
    import proxies

    digest = hashlib.sha256()
    for package in (proxies, domains):
        root = os.path.dirname(os.path.abspath(package.__file__))
        for here, dirs, files in sorted(os.walk(root)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(f for f in files if f.endswith(".py")):
                with open(os.path.join(here, name), "rb") as fh:
                    digest.update(name.encode() + b"\0" + fh.read())
    return digest.hexdigest()[:16]


def _disk_dir() -> str:
    return os.path.join(cache_root(), "data_controls")


class ControlCache:
    """Held-out losses of controls, per process and (when `disk`) on disk, keyed by `key(...)`."""

    def __init__(self, disk: bool) -> None:
        self.disk = disk
        self._memory: dict[str, dict[str, float]] = {}

    @staticmethod
    def key(parts: Mapping[str, Any]) -> str:
        blob = json.dumps({"version": CONTROL_VERSION, "code": code_fingerprint(), **parts}, sort_keys=True,
                          default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def get(self, key: str) -> dict[str, float] | None:
        if key in self._memory:
            return self._memory[key]
        if not self.disk:
            return None
        try:
            with open(os.path.join(_disk_dir(), f"{key}.json"), encoding="utf-8") as fh:
                value = {str(k): float(v) for k, v in json.load(fh).items()}
        except (OSError, ValueError, AttributeError):
            return None
        self._memory[key] = value
        return value

    def put(self, key: str, eval_loss: Mapping[str, float]) -> None:
        self._memory[key] = dict(eval_loss)
        if not self.disk:
            return
        try:  # atomically: worker processes may write the same control at once
            os.makedirs(_disk_dir(), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=_disk_dir(), suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(dict(eval_loss), fh)
            os.replace(tmp, os.path.join(_disk_dir(), f"{key}.json"))
        except OSError:
            pass  # a read-only cache still gets its controls, just not shared
