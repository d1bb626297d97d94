"""Named human curation designs, written in the genome's text form.

- none:          no curation (the reference: perf is the held-out loss gained over it, in nats);
- c4:            C4-like rules (Raffel et al. 2020). C4 filters lines; our sources are hard-wrapped, so its
                 rules become document-level: no boilerplate phrases, no '{', enough lines ending in
                 punctuation, enough words; its three-sentence-span dedup becomes paragraph dedup;
- gopher:        the Gopher/MassiveText quality rules (Rae et al. 2021) with their published thresholds;
- dedup:         exact document dedup, then MinHash near-dedup at Jaccard 0.8;
- dedup_quality: dedup, then a learned quality model keeping the best half of each source: a word-bigram
                 model of the clean reference (CCNet-style perplexity). On this corpus the GPT-3-style
                 linear classifier over hashed n-grams (`features=words`) ranks word salad *above* clean
                 text (its score grows with document length, Spearman rho 0.5-0.6) and gained nothing
                 over no curation; the bigram model sees word order (docs/domains/data.md).
"""
from __future__ import annotations

from domains.data.genome import DataGenome
from domains.data.text import parse

BASELINE_TEXT: dict[str, str] = {
    "none": "none | mix(natural) | order=shuffle",
    "c4": ("filter(boiler_lines, max=0.0) > filter(curly, max=0.0) > filter(punct_lines, min=0.2)"
           " > filter(words, min=30.0) > dedup(unit=para) | mix(natural) | order=shuffle"),
    "gopher": ("filter(words, min=50.0, max=100000.0) > filter(mean_word_len, min=3.0, max=10.0)"
               " > filter(symbol_ratio, max=0.1) > filter(bullet_lines, max=0.9) > filter(ellipsis_lines, max=0.3)"
               " > filter(non_alpha_words, max=0.2) > filter(stop_words, min=0.04) > filter(dup_lines, max=0.3)"
               " > filter(top_2gram, max=0.2) > filter(dup_5gram, max=0.15) | mix(natural) | order=shuffle"),
    "dedup": "dedup(unit=doc) > minhash(threshold=0.8, ngram=5, perms=64) | mix(natural) | order=shuffle",
    "dedup_quality": ("dedup(unit=doc) > minhash(threshold=0.8, ngram=5, perms=64)"
                      " > quality(keep=0.5, features=ngram, per_source=true, on=all) | mix(natural) | order=shuffle"),
}
REFERENCE = "none"


def baselines() -> dict[str, DataGenome]:
    return {name: parse(text) for name, text in BASELINE_TEXT.items()}
