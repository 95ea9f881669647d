"""Workloads from a Hugging Face ``config.json``: every linear layer plus the attention products.

Families (``model_type``): ``bert`` (and ``roberta``), ``gpt2``, and the LLaMA-style
decoders ``llama``, ``mistral``, ``qwen2``, ``qwen3``.  Layer names follow the modules of
the ``transformers`` implementation (``layers.self_attn.q_proj`` repeated for every
decoder layer), so a traced module (:mod:`.torch_trace`) lists the same GEMMs.

Two phases of inference:

* ``prefill``: ``batch`` sequences of ``seq_len`` tokens; every linear layer runs on
  ``n = batch * seq_len`` token columns; the attention products see ``seq_len`` keys.
* ``decode``: one new token per sequence with ``context`` tokens in the KV cache: linear
  layers get ``n = batch``; the attention products see ``context`` keys (capped at the
  sliding window where the model uses one: Mistral's rolling cache).

The attention products multiply two activations, so they carry ``prunable = False``
and a sweep runs them dense under every pattern.  Per sequence and KV head (grouped-query
attention packs the query heads that share a KV head into one GEMM, as GQA kernels do):

* ``attn.qk`` (scores transposed):  m = keys, k = head_dim, n = query tokens x group
* ``attn.pv`` (context transposed): m = head_dim, k = keys, n = query tokens x group

repeated ``layers x batch x kv_heads`` times; full products (no causal-mask skipping).
The LM head (decoders) produces the next token's logits: ``n = batch`` in both phases
(``generate`` computes logits for the last position only).  Tied embeddings share the LM
head's weight with the input embedding; the GEMM is the same, the layer's ``params``
say ``tied``.  Errors name the file and the key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import ConfigError
from ..io import is_dir, read_text
from .model import Layer, Workload, check_layers

LLAMA_LIKE = ("llama", "mistral", "qwen2", "qwen3")
FAMILIES = ("bert", "roberta", "gpt2", *LLAMA_LIKE)
PHASES = ("prefill", "decode")
DEFAULT_SEQ_LEN = 2048


def read_config(path) -> tuple[dict, Path]:
    """The parsed ``config.json`` (a file, or a folder holding one) and its path."""
    path = Path(path)
    if is_dir(path):
        path = path / "config.json"
    text = read_text(path, "model config", ConfigError)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}, line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:  # an integer of thousands of digits, nesting thousands deep
        raise ConfigError(f"{path}: not valid JSON: {str(exc)[:100] or type(exc).__name__}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a JSON object (a Hugging Face config), got {type(doc).__name__}")
    return doc, path


class _Keys:
    """Typed access to config keys; errors name the file and the key."""

    def __init__(self, doc: dict, where: str):
        self.doc, self.where = doc, where

    def int(self, *names, default=None, minimum=1) -> int:
        for name in names:
            if self.doc.get(name) is not None:
                v = self.doc[name]
                if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
                    raise ConfigError(f"{self.where}: key {name!r} must be an integer >= {minimum}, got {v!r}")
                return v
        if default is None:
            raise ConfigError(f"{self.where}: missing key {names[0]!r} (an integer; model_type "
                              f"{self.doc.get('model_type')!r} needs it)")
        return default

    def bool(self, name, default) -> bool:
        v = self.doc.get(name)
        v = default if v is None else v
        if not isinstance(v, bool):
            raise ConfigError(f"{self.where}: key {name!r} must be true or false, got {v!r}")
        return v


def _linear(name, fin, fout, tokens, repeat, **params) -> Layer:
    return Layer(name=name, op="linear", m=fout, n=tokens, k=fin, repeat=repeat,
                 params={"in_features": fin, "out_features": fout, **params})


def _attention(layers, heads, kv_heads, head_dim, q_len, keys, batch) -> list[Layer]:
    group = heads // kv_heads
    rep = layers * batch * kv_heads
    common = {"heads": heads, "kv_heads": kv_heads, "head_dim": head_dim, "query_tokens": q_len,
              "keys": keys}
    return [
        Layer(name="attn.qk", op="gemm", m=keys, n=q_len * group, k=head_dim, repeat=rep,
              params=common, prunable=False),
        Layer(name="attn.pv", op="gemm", m=head_dim, n=q_len * group, k=keys, repeat=rep,
              params=common, prunable=False),
    ]


def _heads(c: _Keys, hidden, head_key="num_attention_heads", kv_key="num_key_value_heads"):
    heads = c.int(head_key, "n_head")
    kv = c.int(kv_key, default=heads)
    if heads % kv:
        raise ConfigError(f"{c.where}: key {kv_key!r} = {kv} does not divide {head_key!r} = {heads}")
    head_dim = c.int("head_dim", default=0, minimum=0) or hidden // heads
    if head_dim * heads != hidden and "head_dim" not in c.doc:
        raise ConfigError(f"{c.where}: hidden size {hidden} is not a multiple of {head_key!r} = {heads}")
    return heads, kv, head_dim


def _llama(c: _Keys, tokens, q_len, keys, batch):
    hidden = c.int("hidden_size")
    inter = c.int("intermediate_size")
    layers = c.int("num_hidden_layers")
    vocab = c.int("vocab_size")
    heads, kv, hd = _heads(c, hidden)
    p = "layers."
    out = [
        _linear(p + "self_attn.q_proj", hidden, heads * hd, tokens, layers),
        _linear(p + "self_attn.k_proj", hidden, kv * hd, tokens, layers),
        _linear(p + "self_attn.v_proj", hidden, kv * hd, tokens, layers),
        *_attention(layers, heads, kv, hd, q_len, keys, batch),
        _linear(p + "self_attn.o_proj", heads * hd, hidden, tokens, layers),
        _linear(p + "mlp.gate_proj", hidden, inter, tokens, layers),
        _linear(p + "mlp.up_proj", hidden, inter, tokens, layers),
        _linear(p + "mlp.down_proj", inter, hidden, tokens, layers),
        _linear("lm_head", hidden, vocab, batch, 1, tied=c.bool("tie_word_embeddings", False)),
    ]
    return out, layers


def _gpt2(c: _Keys, tokens, q_len, keys, batch):
    hidden = c.int("n_embd", "hidden_size")
    layers = c.int("n_layer", "num_hidden_layers")
    inner = c.int("n_inner", default=4 * hidden)
    vocab = c.int("vocab_size")
    heads, kv, hd = _heads(c, hidden, "n_head")
    p = "h."
    out = [
        _linear(p + "attn.c_attn", hidden, 3 * hidden, tokens, layers),
        *_attention(layers, heads, kv, hd, q_len, keys, batch),
        _linear(p + "attn.c_proj", hidden, hidden, tokens, layers),
        _linear(p + "mlp.c_fc", hidden, inner, tokens, layers),
        _linear(p + "mlp.c_proj", inner, hidden, tokens, layers),
        _linear("lm_head", hidden, vocab, batch, 1, tied=c.bool("tie_word_embeddings", True)),
    ]
    return out, layers


def _bert(c: _Keys, tokens, q_len, keys, batch):
    hidden = c.int("hidden_size")
    inter = c.int("intermediate_size")
    layers = c.int("num_hidden_layers")
    heads, kv, hd = _heads(c, hidden)
    p = "encoder.layer."
    out = [
        _linear(p + "attention.self.query", hidden, hidden, tokens, layers),
        _linear(p + "attention.self.key", hidden, hidden, tokens, layers),
        _linear(p + "attention.self.value", hidden, hidden, tokens, layers),
        *_attention(layers, heads, kv, hd, q_len, keys, batch),
        _linear(p + "attention.output.dense", hidden, hidden, tokens, layers),
        _linear(p + "intermediate.dense", hidden, inter, tokens, layers),
        _linear(p + "output.dense", inter, hidden, tokens, layers),
        _linear("pooler.dense", hidden, hidden, batch, 1),  # on the [CLS] token of each sequence
    ]
    return out, layers


_BUILDERS = {"bert": _bert, "roberta": _bert, "gpt2": _gpt2, **{t: _llama for t in LLAMA_LIKE}}


def from_hf_config(config, *, phase: str = "prefill", seq_len: int | None = None, batch: int | None = 1,
                   context: int | None = None, name: str | None = None) -> Workload:
    """The GEMMs of one inference step of the model that ``config`` describes.

    ``config``: a path to ``config.json`` (or its folder) or the parsed dict.
    ``phase``: ``"prefill"`` (``batch`` x ``seq_len`` tokens) or ``"decode"`` (one token
    per sequence, ``context`` tokens cached; default ``seq_len``).  ``seq_len`` defaults to
    the smaller of 2048 and the model's ``max_position_embeddings``.
    """
    if isinstance(config, dict):
        doc, path = config, None
        where = "config"
    elif not isinstance(config, (str, os.PathLike)) or not str(config):
        raise ConfigError(f"expected a config.json path or its parsed dict, got {type(config).__name__} {config!r:.60}")
    else:
        doc, path = read_config(config)
        where = str(path)
    c = _Keys(doc, where)
    mtype = doc.get("model_type")
    if not isinstance(mtype, str) or mtype not in _BUILDERS:
        raise ConfigError(f"{where}: key 'model_type' is {mtype!r}; supported: {', '.join(FAMILIES)}")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError(f"{where}: workload name must be a non-empty string, got {name!r}")
    if not isinstance(phase, str) or phase not in PHASES:
        raise ConfigError(f"{where}: phase {phase!r} is not one of {', '.join(PHASES)}")
    if mtype in ("bert", "roberta") and phase == "decode":
        raise ConfigError(f"{where}: model_type {mtype!r} is an encoder; it has no decode phase (use prefill)")
    batch = 1 if batch is None else batch
    window = c.int("sliding_window") if doc.get("sliding_window") is not None else None
    for label, v in (("batch", batch), ("seq_len", seq_len), ("context", context)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ConfigError(f"{where}: {label} must be a positive integer, got {v!r}")
    max_pos = c.int("max_position_embeddings", "n_positions", default=DEFAULT_SEQ_LEN)
    seq_len = seq_len or min(DEFAULT_SEQ_LEN, max_pos)
    if phase == "prefill":
        q_len, keys = seq_len, seq_len
    else:
        q_len, keys = 1, context or seq_len
        if window is not None and (mtype == "mistral" or c.bool("use_sliding_window", False)):
            keys = min(keys, window)
    longest = seq_len if phase == "prefill" else (context or seq_len)
    if longest > max_pos:
        raise ConfigError(f"{where}: {longest} tokens exceed the model's max_position_embeddings ({max_pos})")
    layers, depth = _BUILDERS[mtype](c, batch * q_len, q_len, keys, batch)
    check_layers(layers, where)
    base = name or (path.parent.name if path is not None and path.name == "config.json"
                    else path.stem if path is not None else mtype)
    tag = f"prefill{seq_len}" if phase == "prefill" else f"decode{keys}"
    archs = doc.get("architectures")
    arch = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else mtype
    desc = (f"{arch} ({depth} layers), {phase}: batch {batch}, "
            + (f"{seq_len} tokens" if phase == "prefill" else f"1 new token, {keys} cached"))
    return Workload(name=f"{base}-{tag}", description=desc,
                    sources=(f"Hugging Face config {where}",), layers=tuple(layers),
                    path=str(path or ""), batch=batch)
