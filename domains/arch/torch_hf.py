"""A discovered architecture as a Hugging Face `transformers` causal LM (config + PreTrainedModel).

Why: `save_pretrained` / `from_pretrained`, the Trainer and `generate` are how many PyTorch users
train and share models. The model wraps `torch_export.build_lm` (the genome is stored in the
config, so the architecture travels with the weights); importing this module registers the
`evolve_arch` model type with `AutoConfig` and `AutoModelForCausalLM`.

Not supported: a KV cache or recurrent state for incremental decoding (`generate` recomputes the
whole prefix for each new token, exact but O(T^2)), attention masks other than causal (padding
must be on the right), bf16 parity (exported and checked in float32).
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from transformers import AutoConfig, AutoModelForCausalLM, GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput

from domains.arch import genome as gn
from domains.arch import torch_export


class EvolveArchConfig(PretrainedConfig):
    """The genome (JSON form) and the sizes `torch_export.build_lm` needs."""

    model_type = "evolve_arch"

    def __init__(self, genome: Mapping[str, Any] | None = None, d_model: int = 64, n_layers: int = 2,
                 vocab_size: int = 256, max_len: int = 128, chunk: int = 64, **kwargs: Any):
        self.genome = dict(genome) if genome is not None else None
        self.d_model, self.n_layers, self.max_len, self.chunk = d_model, n_layers, max_len, chunk
        self.vocab_size = vocab_size
        self.hidden_size, self.num_hidden_layers, self.max_position_embeddings = d_model, n_layers, max_len
        kwargs.setdefault("tie_word_embeddings", False)  # a tied head reuses the embedding inside the module
        super().__init__(**kwargs)


class EvolveArchForCausalLM(PreTrainedModel, GenerationMixin):
    config_class = EvolveArchConfig
    base_model_prefix = "lm"
    main_input_name = "input_ids"

    def __init__(self, config: EvolveArchConfig):
        super().__init__(config)
        if config.genome is None:
            raise ValueError("EvolveArchConfig needs the genome (its JSON form)")
        self.lm = torch_export.build_lm(gn.from_json(config.genome), d_model=config.d_model,
                                        n_layers=config.n_layers, vocab_size=config.vocab_size,
                                        max_len=config.max_len, chunk=config.chunk)
        self.post_init()

    def _init_weights(self, module: Any) -> None:
        """Weights come from the Flax proxy or from the checkpoint; torch's own init otherwise."""

    def get_input_embeddings(self) -> torch.nn.Embedding:
        return self.lm.embed

    @classmethod
    def from_lm(cls, lm: Any, spec: Mapping[str, Any]) -> "EvolveArchForCausalLM":
        """Wrap an exported `torch_export` LM (weights included)."""
        config = EvolveArchConfig(genome=spec["genome"], d_model=spec["d_model"], n_layers=spec["n_layers"],
                                  vocab_size=spec["vocab_size"], max_len=spec["max_len"], chunk=spec["chunk"])
        model = cls(config)
        model.lm.load_state_dict(lm.state_dict(), strict=True)
        return model.eval()

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor | None = None, **_: Any) -> CausalLMOutput:
        """Logits (B, T, vocab); with `labels` (B, T; -100 ignored) also the next-token loss."""
        logits = self.lm(input_ids)
        loss = None
        if labels is not None:
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                                     labels[:, 1:].reshape(-1), ignore_index=-100)
        return CausalLMOutput(loss=loss, logits=logits)

    def prepare_inputs_for_generation(self, input_ids: torch.Tensor, **_: Any) -> dict[str, Any]:
        return {"input_ids": input_ids[:, -self.config.max_len:]}


AutoConfig.register(EvolveArchConfig.model_type, EvolveArchConfig, exist_ok=True)
AutoModelForCausalLM.register(EvolveArchConfig, EvolveArchForCausalLM, exist_ok=True)
