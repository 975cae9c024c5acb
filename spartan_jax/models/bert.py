"""A linen BERT/RoBERTa encoder whose numerics and parameter layout follow Hugging Face.

Each layer is post-LayerNorm: LN(x + attention(x)), then LN(h + FFN(h)). Three optional hooks
carry the parameter-efficient methods: a SPARTAN memory after each layer's output, bottleneck
adapters inside the residual branches (Houlsby: two a layer, Pfeiffer: one) and LoRA on chosen
attention projections. With every hook off this is the frozen backbone.
"""

import dataclasses
import json
import math
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from spartan_jax.models import memory as memory_lib
from spartan_jax.models import peft

Dtype = Any

_ACTIVATIONS = {
    'gelu': lambda x: nn.gelu(x, approximate=False),
    'gelu_new': lambda x: nn.gelu(x, approximate=True),
    'relu': nn.relu,
}


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
  """The architecture, as in a Hugging Face `config.json`."""
  model_type: str = 'bert'  # 'bert' or 'roberta'
  vocab_size: int = 30522
  hidden_size: int = 768
  num_hidden_layers: int = 12
  num_attention_heads: int = 12
  intermediate_size: int = 3072
  hidden_act: str = 'gelu'
  max_position_embeddings: int = 512
  type_vocab_size: int = 2
  layer_norm_eps: float = 1e-12
  hidden_dropout_prob: float = 0.1
  attention_probs_dropout_prob: float = 0.1
  pad_token_id: int = 0

  def __post_init__(self):
    if self.model_type not in ('bert', 'roberta'):
      raise ValueError(f'model_type={self.model_type!r} is not supported; use "bert" or "roberta".')
    if self.hidden_size % self.num_attention_heads:
      raise ValueError(f'hidden_size={self.hidden_size} is not divisible by '
                       f'num_attention_heads={self.num_attention_heads}.')
    if self.hidden_act not in _ACTIVATIONS:
      raise ValueError(f'hidden_act={self.hidden_act!r} is not supported; use one of {sorted(_ACTIVATIONS)}.')

  @classmethod
  def from_dict(cls, hf_config: dict) -> 'EncoderConfig':
    """Keeps the fields this encoder uses from a Hugging Face config dict."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in hf_config.items() if k in names})

  @classmethod
  def from_json(cls, path: str) -> 'EncoderConfig':
    with open(path) as f:
      try:
        hf_config = json.load(f)
      except json.JSONDecodeError as e:
        raise ValueError(f'{path} is not valid JSON ({e}); restore the checkpoint\'s config.json.') from None
    if not isinstance(hf_config, dict):
      raise ValueError(f'{path} holds no JSON object; restore the checkpoint\'s config.json.')
    return cls.from_dict(hf_config)


def position_ids_for(input_ids: jax.Array, config: EncoderConfig) -> jax.Array:
  """BERT counts positions from 0; RoBERTa from pad_token_id + 1 over non-padding tokens."""
  if config.model_type == 'roberta':
    not_pad = (input_ids != config.pad_token_id).astype(jnp.int32)
    return jnp.cumsum(not_pad, axis=-1) * not_pad + config.pad_token_id
  # A cumsum, not arange(T): ONNX export keeps T dynamic only without shape-built constants.
  return jnp.cumsum(jnp.ones_like(input_ids, jnp.int32), axis=-1) - 1


class Embeddings(nn.Module):
  config: EncoderConfig
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, input_ids, token_type_ids, deterministic):
    c = self.config
    embed = lambda n, name: nn.Embed(n, c.hidden_size, dtype=self.dtype, name=name,
                                     embedding_init=nn.initializers.normal(0.02))
    x = (embed(c.vocab_size, 'word_embeddings')(input_ids)
         + embed(c.max_position_embeddings, 'position_embeddings')(position_ids_for(input_ids, c))
         + embed(c.type_vocab_size, 'token_type_embeddings')(token_type_ids))
    x = nn.LayerNorm(c.layer_norm_eps, dtype=self.dtype, name='layer_norm')(x)
    return nn.Dropout(c.hidden_dropout_prob)(x, deterministic=deterministic)


class SelfAttention(nn.Module):
  """Multi-head self-attention with its output projection (before the residual LayerNorm)."""
  config: EncoderConfig
  lora: peft.LoRASpec | None = None
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, attention_bias, deterministic):
    c = self.config
    heads, head_dim = c.num_attention_heads, c.hidden_size // c.num_attention_heads

    def projection(name):
      if self.lora is not None and name in self.lora.targets:
        return peft.LoRADense(c.hidden_size, self.lora.rank, self.lora.alpha, dtype=self.dtype, name=name)
      return nn.Dense(c.hidden_size, dtype=self.dtype, kernel_init=nn.initializers.normal(0.02), name=name)

    split = lambda t: t.reshape(t.shape[:-1] + (heads, head_dim))
    q, k, v = (split(projection(name)(x)) for name in ('query', 'key', 'value'))
    logits = jnp.einsum('bqhd,bkhd->bhqk', q, k).astype(jnp.float32) / math.sqrt(head_dim)
    probs = jax.nn.softmax(logits + attention_bias, axis=-1).astype(self.dtype)
    probs = nn.Dropout(c.attention_probs_dropout_prob)(probs, deterministic=deterministic)
    context = jnp.einsum('bhqk,bkhd->bqhd', probs, v).reshape(x.shape)
    return projection('output')(context)


class Layer(nn.Module):
  """One Transformer layer, with the optional adapter and memory hooks."""
  config: EncoderConfig
  adapter: peft.AdapterSpec | None = None
  lora: peft.LoRASpec | None = None
  dtype: Dtype = jnp.float32

  def _adapter(self, name):
    a = self.adapter
    return peft.Adapter(a.bottleneck, a.activation, dtype=self.dtype, name=name)

  @nn.compact
  def __call__(self, x, attention_bias, deterministic):
    c = self.config
    dropout = lambda t: nn.Dropout(c.hidden_dropout_prob)(t, deterministic=deterministic)
    norm = lambda name: nn.LayerNorm(c.layer_norm_eps, dtype=self.dtype, name=name)
    dense = lambda n, name: nn.Dense(n, dtype=self.dtype, kernel_init=nn.initializers.normal(0.02), name=name)

    h = dropout(SelfAttention(c, self.lora, self.dtype, name='attention')(x, attention_bias, deterministic))
    if self.adapter is not None and self.adapter.placement == 'houlsby':
      h = self._adapter('attention_adapter')(h)
    h = norm('attention_layer_norm')(x + h)

    y = dropout(dense(c.hidden_size, 'output')(_ACTIVATIONS[c.hidden_act](dense(c.intermediate_size, 'intermediate')(h))))
    if self.adapter is not None:
      y = self._adapter('output_adapter')(y)
    return norm('output_layer_norm')(h + y)


class Encoder(nn.Module):
  """Embeddings and layers; a SPARTAN memory after the output of each chosen layer.

  Returns the last hidden state [B, T, H] and a tuple of parent weights [B, T, E], one per memory call.
  """
  config: EncoderConfig
  memory: peft.MemorySpec | None = None
  adapter: peft.AdapterSpec | None = None
  lora: peft.LoRASpec | None = None
  dtype: Dtype = jnp.float32

  def _memory(self, name):
    m = self.memory
    return memory_lib.SpartanMemory(
        num_parents=m.num_parents,
        num_children=memory_lib.children_per_parent(m.memory_size, m.num_parents),
        top_k=m.top_k, temperature=m.temperature, impl=m.impl, use_layer_norm=m.layer_norm,
        layer_norm_eps=self.config.layer_norm_eps, dtype=self.dtype, name=name)

  @nn.compact
  def __call__(self, input_ids, attention_mask, token_type_ids=None, deterministic=True):
    c = self.config
    if token_type_ids is None:
      token_type_ids = jnp.zeros_like(input_ids)
    memory_layers = peft.memory_layer_indices(self.memory, c.num_hidden_layers)
    shared = self._memory('memory') if self.memory is not None and self.memory.shared else None

    attention_bias = jnp.where(attention_mask[:, None, None, :] > 0, 0.0, jnp.finfo(jnp.float32).min)
    x = Embeddings(c, self.dtype, name='embeddings')(input_ids, token_type_ids, deterministic)
    parent_weights = []
    for i in range(c.num_hidden_layers):
      x = Layer(c, self.adapter, self.lora, self.dtype, name=f'layer_{i}')(x, attention_bias, deterministic)
      if i in memory_layers:
        x, weights = (shared if shared is not None else self._memory(f'memory_{i}'))(x)
        parent_weights.append(weights)
    return x, tuple(parent_weights)


def load_encoder_config(checkpoint_dir: str) -> EncoderConfig:
  path = os.path.join(checkpoint_dir, 'config.json')
  if not os.path.isfile(path):
    raise FileNotFoundError(f'No config.json in checkpoint directory {checkpoint_dir!r}.')
  return EncoderConfig.from_json(path)
