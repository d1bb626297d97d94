"""The proxies' settings as plain frozen dataclasses, importable without JAX.

Why a module of their own: a domain checks a user's nested proxy settings (`domains.arch.lm`, `.recall`,
`domains.data.lm`) against these fields in the driver, before a run directory exists, and the driver never
imports JAX (it only reads and plans). `proxies.lm` and `proxies.recall` re-export them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LMConfig:
    seq_len: int = 128  # tokens per training window (the model sees seq_len, predicts the next of each)
    batch_size: int = 16  # windows per optimiser step
    steps: int = 200  # optimiser steps
    lr: float = 3e-3  # peak AdamW learning rate
    warmup_frac: float = 0.1  # fraction of steps spent in linear warm-up from 0
    min_lr_frac: float = 0.1  # cosine decay ends at lr * min_lr_frac
    weight_decay: float = 0.1  # decoupled weight decay on matrices and embeddings (not norms/biases)
    grad_clip: float = 1.0  # global gradient-norm clip
    eval_batches: int = 4  # batches of fixed, evenly spaced windows per held-out set
    dtype: str = "float32"  # compute dtype model builders should use ("float32" | "bfloat16")

    @classmethod
    def tiny(cls) -> "LMConfig":
        """2 CPU cores: a few seconds per run for a ~0.1M-parameter model."""
        return cls()

    @classmethod
    def small(cls) -> "LMConfig":
        """One GPU, ~20M-parameter models: 2000 x 32 x 1024 = 65M tokens in bf16."""
        return cls(seq_len=1024, batch_size=32, steps=2000, lr=1.5e-3, eval_batches=8, dtype="bfloat16")

    def replace(self, **changes: Any) -> "LMConfig":
        return dataclasses.replace(self, **changes)

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len


@dataclass(frozen=True)
class RecallConfig:
    vocab_size: int = 256  # keys from [1, vocab/2), values from [vocab/2, vocab); 0 is the filler
    seq_len: int = 64  # tokens per sequence: 2 * num_pairs of pairs, the rest is the query region
    num_pairs: int = 4  # key-value pairs to memorise (and queries to answer) per sequence
    batch_size: int = 32  # sequences per optimiser step
    steps: int = 1500  # optimiser steps (the arch domain scales this down by its budget)
    lr: float = 3e-3  # peak AdamW learning rate
    warmup_frac: float = 0.05  # linear warm-up fraction
    min_lr_frac: float = 0.1  # cosine decays to lr * min_lr_frac
    weight_decay: float = 0.1  # decoupled weight decay on matrices and embeddings
    grad_clip: float = 1.0  # global gradient-norm clip
    eval_batches: int = 4  # fresh held-out batches for the final accuracy
    dtype: str = "float32"  # compute dtype model builders should use
    input_conv: int = 2  # probe_model: kernel of the causal convolution on the embeddings (2 = token shift, 0 = none)

    @classmethod
    def tiny(cls) -> "RecallConfig":
        """2 CPU cores; the arch domain narrows it (vocab 64, seq 32, 100 steps) for its tiny scale."""
        return cls()

    @classmethod
    def small(cls) -> "RecallConfig":
        """One GPU, Zoology-like difficulty: 256 pairs, more than the 128 linearly independent keys a
        128-wide linear-attention head (d 512, 4 heads) can store apart, so a bounded state must forget
        while attention need not. 32 x 1024 tokens per step (256 queries per sequence)."""
        return cls(vocab_size=8192, seq_len=1024, num_pairs=256, batch_size=32, steps=3000, lr=1e-3,
                   dtype="bfloat16")

    def replace(self, **changes: Any) -> "RecallConfig":
        return dataclasses.replace(self, **changes)

    def __post_init__(self):
        if self.num_pairs > (self.vocab_size // 2) - 1:
            raise ValueError("num_pairs exceeds the number of distinct keys (vocab_size // 2 - 1)")
        if 3 * self.num_pairs > self.seq_len:
            raise ValueError("seq_len must hold the pairs and a query region of at least num_pairs tokens")
        if self.input_conv < 0:
            raise ValueError(f"input_conv must be >= 0, got {self.input_conv}")
