"""Encoder + task head, the method table, and `from_pretrained`."""

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from spartan_jax.models import bert
from spartan_jax.models import memory as memory_lib
from spartan_jax.models import peft
from spartan_jax.models import pretrained as pretrained_lib

Dtype = Any


class BertHead(nn.Module):
  """Hugging Face's BertForSequenceClassification: pooler (dense + tanh on [CLS]) → classifier."""
  num_labels: int
  dropout_rate: float
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, hidden, deterministic):
    init = nn.initializers.normal(0.02)
    pooled = jnp.tanh(nn.Dense(hidden.shape[-1], dtype=self.dtype, kernel_init=init, name='pooler')(hidden[:, 0]))
    pooled = nn.Dropout(self.dropout_rate)(pooled, deterministic=deterministic)
    return nn.Dense(self.num_labels, dtype=self.dtype, kernel_init=init, name='classifier')(pooled)


class RobertaHead(nn.Module):
  """Hugging Face's RobertaClassificationHead: dense → tanh → out_proj on the first token."""
  num_labels: int
  dropout_rate: float
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, hidden, deterministic):
    init = nn.initializers.normal(0.02)
    x = nn.Dropout(self.dropout_rate)(hidden[:, 0], deterministic=deterministic)
    x = jnp.tanh(nn.Dense(hidden.shape[-1], dtype=self.dtype, kernel_init=init, name='dense')(x))
    x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)
    return nn.Dense(self.num_labels, dtype=self.dtype, kernel_init=init, name='out_proj')(x)


class SequenceClassifier(nn.Module):
  """A BERT/RoBERTa classifier (num_labels=1: regression) with the method's hooks.

  Returns a dict: `logits` [B, num_labels] (float32), `last_hidden_state` [B, T, H], `parent_weights`
  (a tuple of [B, T, E], one per memory call) and `aux_loss`, SPARTAN's load-balancing loss over
  real tokens (0 without memory).
  """
  config: bert.EncoderConfig
  num_labels: int
  memory: peft.MemorySpec | None = None
  adapter: peft.AdapterSpec | None = None
  lora: peft.LoRASpec | None = None
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, input_ids, attention_mask, token_type_ids=None, deterministic=True):
    hidden, parent_weights = bert.Encoder(
        self.config, self.memory, self.adapter, self.lora, self.dtype, name='encoder')(
            input_ids, attention_mask, token_type_ids, deterministic)
    head_cls = BertHead if self.config.model_type == 'bert' else RobertaHead
    logits = head_cls(self.num_labels, self.config.hidden_dropout_prob, self.dtype, name='head')(
        hidden, deterministic)
    return {
        'logits': logits.astype(jnp.float32),
        'last_hidden_state': hidden,
        'parent_weights': parent_weights,
        'aux_loss': memory_lib.load_balancing_loss(parent_weights, attention_mask),
    }


def method_specs(method: str, memory: peft.MemorySpec | None = None, adapter: peft.AdapterSpec | None = None,
                 lora: peft.LoRASpec | None = None) -> dict:
  """The encoder hooks of `method`: {'memory', 'adapter', 'lora'}, defaults where not given."""
  if method not in peft.METHODS:
    raise ValueError(f'Unknown method {method!r}; choose one of {peft.METHODS}.')
  specs = {'memory': None, 'adapter': None, 'lora': None}
  if method == 'spartan':
    specs['memory'] = memory or peft.MemorySpec()
  elif method in ('houlsby', 'pfeiffer'):
    specs['adapter'] = dataclasses.replace(adapter or peft.AdapterSpec(), placement=method)
  elif method == 'lora':
    specs['lora'] = lora or peft.LoRASpec()
  return specs


def build_model(config: bert.EncoderConfig, method: str, num_labels: int, dtype: Dtype = jnp.float32,
                **specs) -> SequenceClassifier:
  if num_labels < 1:
    raise ValueError(f'num_labels={num_labels} must be >= 1 (1 means regression).')
  return SequenceClassifier(config, num_labels, dtype=dtype, **method_specs(method, **specs))


def init_params(model: SequenceClassifier, rng: jax.Array, seq_len: int = 8) -> dict:
  ids = jnp.zeros((1, seq_len), jnp.int32)
  return jax.jit(model.init)(rng, ids, jnp.ones_like(ids))['params']


def from_pretrained(name_or_path: str, method: str = 'spartan', num_labels: int = 2, *, seed: int = 0,
                    dtype: Dtype = jnp.float32, **specs) -> tuple[SequenceClassifier, dict]:
  """Loads a Hugging Face BERT/RoBERTa checkpoint and adds `method`'s fresh parameters and head.

  Args:
    name_or_path: a local directory, a hub id, or "minilm" (the packaged all-MiniLM-L6-v2).
    method: one of peft.METHODS.
    num_labels: classes, or 1 for regression.
    seed: seeds the memory, adapter, LoRA and head initialisation.
    dtype: computation dtype (jnp.bfloat16 for mixed precision); params stay float32.
    **specs: optional `memory=MemorySpec(...)`, `adapter=AdapterSpec(...)`, `lora=LoRASpec(...)`.

  Returns:
    (model, params).
  """
  model_specs = method_specs(method, **specs)  # Fails on a bad method before any download.
  checkpoint_dir = pretrained_lib.resolve_checkpoint(name_or_path)
  model = build_model(bert.load_encoder_config(checkpoint_dir), method, num_labels, dtype, **model_specs)
  params = init_params(model, jax.random.key(seed))
  state = pretrained_lib.convert_state_dict(pretrained_lib.read_safetensors(checkpoint_dir))
  return model, pretrained_lib.merge_pretrained(params, state)
