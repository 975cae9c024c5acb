"""Encoder + task head (pooling), the method table, and `from_pretrained`."""

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
# 'auto': the checkpoint's sentence-transformers pooling if it has one, else the architecture's HF head.
POOLINGS = ('auto', 'cls_pooler', 'cls', 'mean')


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


class MeanHead(nn.Module):
  """Masked mean of the real tokens (sentence-transformers' mean pooling) → classifier."""
  num_labels: int
  dropout_rate: float
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, hidden, attention_mask, deterministic):
    mask = attention_mask[..., None].astype(jnp.float32)
    pooled = jnp.sum(hidden.astype(jnp.float32) * mask, axis=1) / jnp.maximum(jnp.sum(mask, axis=1), 1.0)
    pooled = nn.Dropout(self.dropout_rate)(pooled.astype(self.dtype), deterministic=deterministic)
    init = nn.initializers.normal(0.02)
    return nn.Dense(self.num_labels, dtype=self.dtype, kernel_init=init, name='classifier')(pooled)


class SequenceClassifier(nn.Module):
  """A BERT/RoBERTa classifier (num_labels=1: regression) with the method's hooks.

  Returns a dict: `logits` [B, num_labels] (float32), `last_hidden_state` [B, T, H], `parent_weights`
  (a tuple of [B, T, E], one per memory call) and `aux_loss`, SPARTAN's load-balancing loss over
  real tokens (0 without memory).
  """
  config: bert.EncoderConfig
  num_labels: int
  pooling: str = 'cls_pooler'  # One of POOLINGS but 'auto': build_model resolves it.
  memory: peft.MemorySpec | None = None
  adapter: peft.AdapterSpec | None = None
  lora: peft.LoRASpec | None = None
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, input_ids, attention_mask, token_type_ids=None, deterministic=True):
    hidden, parent_weights = bert.Encoder(
        self.config, self.memory, self.adapter, self.lora, self.dtype, name='encoder')(
            input_ids, attention_mask, token_type_ids, deterministic)
    dropout = self.config.hidden_dropout_prob
    if self.pooling == 'mean':
      logits = MeanHead(self.num_labels, dropout, self.dtype, name='head')(hidden, attention_mask, deterministic)
    else:
      head_cls = {'cls_pooler': BertHead, 'cls': RobertaHead}[self.pooling]
      logits = head_cls(self.num_labels, dropout, self.dtype, name='head')(hidden, deterministic)
    return {
        'logits': logits.astype(jnp.float32),
        'last_hidden_state': hidden,
        'parent_weights': parent_weights,
        'aux_loss': memory_lib.load_balancing_loss(parent_weights, attention_mask),
    }


def method_specs(method: str, memory: peft.MemorySpec | None = None, adapter: peft.AdapterSpec | None = None,
                 lora: peft.LoRASpec | None = None) -> dict:
  """The encoder hooks of `method`: {'memory', 'adapter', 'lora'}, defaults where not given."""
  m = peft.get_method(method)
  specs = {'memory': None, 'adapter': None, 'lora': None}
  if m.hook == 'memory':
    specs['memory'] = memory or peft.MemorySpec()
  elif m.hook == 'adapter':
    specs['adapter'] = dataclasses.replace(adapter or peft.AdapterSpec(), placement=m.placement)
  elif m.hook == 'lora':
    specs['lora'] = lora or peft.LoRASpec()
  return specs


def resolve_pooling(pooling: str, model_type: str, checkpoint_dir: str | None = None) -> str:
  """`pooling`, with 'auto' made concrete: the checkpoint's own pooling, else the architecture's HF head."""
  if pooling not in POOLINGS:
    raise ValueError(f'pooling={pooling!r}: choose one of {POOLINGS}.')
  if pooling != 'auto':
    return pooling
  trained_with = checkpoint_dir and pretrained_lib.sentence_transformers_pooling(checkpoint_dir)
  return trained_with or ('cls_pooler' if model_type == 'bert' else 'cls')


def build_model(config: bert.EncoderConfig, method: str, num_labels: int, dtype: Dtype = jnp.float32,
                pooling: str = 'auto', **specs) -> SequenceClassifier:
  """The classifier; pooling 'auto' here means the architecture's HF head (no checkpoint to ask)."""
  if num_labels < 1:
    raise ValueError(f'num_labels={num_labels} must be >= 1 (1 means regression).')
  return SequenceClassifier(config, num_labels, resolve_pooling(pooling, config.model_type), dtype=dtype,
                            **method_specs(method, **specs))


def init_params(model: SequenceClassifier, rng: jax.Array, seq_len: int = 8) -> dict:
  ids = jnp.zeros((1, seq_len), jnp.int32)
  return jax.jit(model.init)(rng, ids, jnp.ones_like(ids))['params']


def from_pretrained(name_or_path: str, method: str = 'spartan', num_labels: int = 2, *, seed: int = 0,
                    dtype: Dtype = jnp.float32, pooling: str = 'auto',
                    **specs) -> tuple[SequenceClassifier, dict]:
  """Loads a Hugging Face BERT/RoBERTa checkpoint and adds `method`'s fresh parameters and head.

  Args:
    name_or_path: a local directory, a hub id, or "minilm" (the packaged all-MiniLM-L6-v2).
    method: a name in peft.METHODS.
    num_labels: classes, or 1 for regression.
    seed: seeds the memory, adapter, LoRA and head initialisation.
    dtype: computation dtype (jnp.bfloat16 for mixed precision); params stay float32.
    pooling: one of POOLINGS; 'auto' follows a sentence-transformers checkpoint's `1_Pooling/config.json`
      (all-MiniLM-L6-v2: mean) and otherwise the architecture's HF head (BERT: cls_pooler; RoBERTa: cls).
    **specs: optional `memory=MemorySpec(...)`, `adapter=AdapterSpec(...)`, `lora=LoRASpec(...)`.

  Returns:
    (model, params).
  """
  model_specs = method_specs(method, **specs)  # Fails on a bad method or pooling before any download.
  if pooling not in POOLINGS:
    raise ValueError(f'pooling={pooling!r}: choose one of {POOLINGS}.')
  checkpoint_dir = pretrained_lib.resolve_checkpoint(name_or_path)
  config = bert.load_encoder_config(checkpoint_dir)
  pooling = resolve_pooling(pooling, config.model_type, checkpoint_dir)
  model = build_model(config, method, num_labels, dtype, pooling, **model_specs)
  params = init_params(model, jax.random.key(seed))
  state = pretrained_lib.convert_state_dict(pretrained_lib.read_safetensors(checkpoint_dir))
  # On the device once: numpy leaves would be copied in on every call of a jitted apply.
  return model, jax.device_put(pretrained_lib.merge_pretrained(params, state))
