"""Named human designs, written in the genome's own text form.

All share the GPT-style channel mixer (pre-norm MLP x4, GELU) so that the token
mixer is the only difference between them; `transformer` is the reference (perf 0).
"""
from __future__ import annotations

from domains.arch.genome import ArchGenome
from domains.arch.text import parse

_MLP = "rms > mlp(expansion=4.0, activation=gelu(x))"

BASELINE_TEXT: dict[str, str] = {
    # Vaswani et al. / GPT: causal softmax attention with rotary positions.
    "transformer": f"rms > attn(heads=4, window=none, rope=true) ; {_MLP} | tied=true",
    # Katharopoulos et al. 2020: phi = elu(x) + 1.
    "linear_attention": f"rms > linattn(heads=4, feature_map=elu1(x)) ; {_MLP} | tied=true",
    # Yang et al. 2024 (GLA): identity feature map, data-dependent decay a = sigmoid(-(z - 4)),
    # i.e. close to 1 at initialisation so the state remembers long contexts at first.
    "gla": f"rms > gla(heads=4, feature_map=identity(x), decay=sub(x, 4.0)) ; {_MLP} | tied=true",
    # Yang et al. 2024 (DeltaNet): SiLU feature map (keys L2-normalised inside the block).
    "deltanet": f"rms > delta(heads=4, feature_map=silu(x), decay=none) ; {_MLP} | tied=true",
    # Yang et al. 2025 (Gated DeltaNet): the delta rule plus a data-dependent decay.
    "gated_deltanet": f"rms > delta(heads=4, feature_map=silu(x), decay=sub(x, 4.0)) ; {_MLP} | tied=true",
}

REFERENCE = "transformer"


def baselines() -> dict[str, ArchGenome]:
    return {name: parse(text) for name, text in BASELINE_TEXT.items()}
