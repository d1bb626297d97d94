"""The grammar text shown to an LLM designer (and a newcomer): what a genome may say."""
from __future__ import annotations

from domains.arch import expr as ex
from domains.arch.genome import EXPANSIONS, HEADS, KERNELS, NORMS, WINDOWS, Bounds


def _choices(values: tuple) -> str:
    return ", ".join("none" if v is None else repr(v) for v in values)


def grammar(bounds: Bounds, *, d_model: int, n_layers: int, max_params: int) -> str:
    return f"""\
ARCHITECTURE GENOME — one block of a causal language model, repeated {n_layers} times at width {d_model}.
The block is a sequence of 1..{bounds.max_sublayers} pre-norm residual sublayers; at least one must be a
token mixer. A sublayer computes  x + mixer(norm(x))  or, with a gate,  x + gate(W norm(x)) * mixer(norm(x)).

TEXT FORM (one line; sublayers separated by ';', parts of a sublayer by '>', global genes after '|'):
  genome   := sublayer (' ; ' sublayer)* ' | tied=' ('true'|'false')
  sublayer := norm ' > ' mixer [' > gate(' expr ')']
  norm     := {' | '.join(NORMS)}
Token mixers (mix information across time; all causal):
  attn(heads=H, window=W, rope=B)            softmax attention; window=none is full causal, an integer is
                                             sliding-window; rope=true adds rotary position embeddings
  linattn(heads=H, feature_map=E)            linear attention phi(q)·S with S = sum phi(k) v^T, normalised
  gla(heads=H, feature_map=E, decay=E)       gated linear attention: S_t = diag(a_t) S_(t-1) + phi(k_t) v_t^T
                                             with a data-dependent decay a_t = sigmoid(-decay(W x_t)) in (0, 1)
  delta(heads=H, feature_map=E, decay=E|none) delta rule (DeltaNet): S_t = a_t S_(t-1)(I - b k k^T) + b v k^T,
                                             keys L2-normalised; decay=none is a_t = 1, else as in gla (Gated DeltaNet)
  conv(kernel=K)                             depth-wise short causal convolution
  par(M, M[, M])                             hybrid: 2..{bounds.max_branches} non-par token mixers on the same input, combined
Channel mixers (per position):
  mlp(expansion=F, activation=E)             W2 act(W1 x), hidden width F*d_model
  glu(expansion=F, activation=E)             W3 (act(W1 x) * W2 x)   (e.g. SwiGLU: activation=silu(x))
Allowed values:
  H (heads) in {{{_choices(HEADS)}}}    W (window) in {{none, {_choices(WINDOWS)}}}    K (kernel) in {{{_choices(KERNELS)}}}
  F (expansion) in {{{_choices(EXPANSIONS)}}}    B in {{true, false}}
Expressions E (element-wise functions of one variable x; depth <= {bounds.expr_depth}, at most
{bounds.expr_size} nodes, must use x):
  E := x | constant | unary(E) | binary(E, E)
  unary:    {', '.join(ex.UNARY_OPS)}
            (elu1(x) = elu(x)+1, relu2(x) = relu(x)^2, neg(x) = -x)
  binary:   {', '.join(ex.BINARY_OPS)}
  constant: {_choices(ex.CONSTANTS)}
  A feature map is applied to queries and keys; a decay expression is squashed into (0, 1) as
  sigmoid(-E), so sub(x, 4.0) starts near 1 (long memory); a gate and an activation are used as written.
Budget: at most {max_params:,} parameters in the whole model (embeddings included).

EXAMPLES
  rms > attn(heads=4, window=none, rope=true) ; rms > mlp(expansion=4.0, activation=gelu(x)) | tied=true
  rms > gla(heads=4, feature_map=identity(x), decay=sub(x, 4.0)) ; rms > glu(expansion=2.5, activation=silu(x)) | tied=true
  rms > par(attn(heads=2, window=64, rope=true), delta(heads=4, feature_map=silu(x), decay=none)) > gate(sigmoid(x)) ; layer > mlp(expansion=2.0, activation=relu2(x)) | tied=false

JSON FORM (canonical; every node has a "type"): {{"type": "arch", "tied": true, "layers": [
  {{"type": "sublayer", "norm": "rms", "gate": null | EXPR, "mixer": {{"type": "attn", "heads": 4, "window": null, "rope": true}}}}, ...]}}
  mixer types: attn, linattn, gla, delta, conv, par ({{"type": "par", "branches": [MIXER, ...]}}), mlp, glu — fields as above
  EXPR: {{"type": "var"}} | {{"type": "const", "value": 0.5}} | {{"type": "unary", "op": "sigmoid", "arg": EXPR}}
        | {{"type": "binary", "op": "add", "left": EXPR, "right": EXPR}}
"""
