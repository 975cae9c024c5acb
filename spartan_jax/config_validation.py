"""One check of a whole run config before any data or model is loaded.

`validate(config)` raises `ConfigError` listing every bad field with its value and the fix. Main,
`train.train_and_evaluate` and `experiments.sweep` all call it. The only file it reads is the
checkpoint's `config.json` (for max_position_embeddings, hidden_size and num_hidden_layers).
"""

import math
import os

import jax

from spartan_jax.data import sources
from spartan_jax.data import tasks
from spartan_jax.models import bert
from spartan_jax.models import memory as memory_lib
from spartan_jax.models import model as model_lib
from spartan_jax.models import peft
from spartan_jax.models import pretrained

DTYPES = ('float32', 'bfloat16')
SOURCES = ('auto', 'tfds', 'tsv')
PROTOCOLS = ('lmbff', 'first_n', 'full')
ACTIVATIONS = ('relu', 'gelu', 'tanh')
LORA_TARGETS = ('query', 'key', 'value', 'output')


class ConfigError(ValueError):
  """A config that cannot run; the message has one line per bad field."""


def _is_int(value) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _Checker:
  """Collects 'field=value: problem; fix' lines."""

  def __init__(self, config):
    self.config = config
    self.errors = []

  def get(self, field: str, default=None):
    node = self.config
    for part in field.split('.'):
      if part not in node:
        return default
      node = node[part]
    return node

  def fail(self, field: str, problem: str, fix: str | None) -> None:
    self.errors.append(f'{field}={self.get(field)!r}: {problem}' + (f'; {fix}.' if fix else ''))

  def int_at_least(self, field: str, low: int) -> bool:
    value = self.get(field)
    if not _is_int(value) or value < low:
      self.fail(field, f'must be an integer >= {low}', f'set --config.{field} to {low} or more')
      return False
    return True

  def number(self, field: str, low: float, high: float = math.inf, low_open=False, high_open=True) -> bool:
    value = self.get(field)
    ok = _is_number(value) and (value > low if low_open else value >= low) and (
        value < high if high_open else value <= high)
    if not ok:
      interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
      self.fail(field, f'must be a finite number in {interval}', f'set --config.{field} to a value in it')
    return ok

  def choice(self, field: str, choices) -> bool:
    if self.get(field) not in choices:
      self.fail(field, 'is unknown', f'use one of {", ".join(map(str, choices))}')
      return False
    return True


def _encoder_config(checkpoint: str) -> tuple[bert.EncoderConfig | None, str | None]:
  """(the checkpoint's EncoderConfig or None when not available offline, error or None); no weights read."""
  if checkpoint != pretrained.PACKAGED_MINILM and not (
      os.path.exists(checkpoint) or checkpoint.startswith(('.', '/')) or checkpoint.count('/') > 1):
    import huggingface_hub  # pylint: disable=import-outside-toplevel
    cached = huggingface_hub.try_to_load_from_cache(checkpoint, 'config.json')
    if not isinstance(cached, str):
      return None, None  # A hub id not downloaded yet: checked after the download.
    directory = os.path.dirname(cached)
  else:
    try:
      directory = pretrained.resolve_checkpoint(checkpoint)
    except (FileNotFoundError, ImportError) as e:
      return None, str(e)
  try:
    return bert.load_encoder_config(directory), None
  except (OSError, ValueError, TypeError) as e:
    return None, str(e)


def validate(config) -> None:
  """Raises ConfigError naming every bad field of a configs/glue.py-style config."""
  c = _Checker(config)
  c.choice('task', tuple(tasks.TASKS))
  c.int_at_least('seed', 0)

  # Data.
  c.choice('data.source', SOURCES)
  glue_dir = c.get('data.glue_dir') or ''
  if glue_dir and not os.path.isdir(glue_dir):
    c.fail('data.glue_dir', 'is not a directory',
           'set --config.data.glue_dir to the folder holding <TASK>/train.tsv')
  if c.get('data.source') == 'tsv' and not sources.resolve_glue_dir(glue_dir):
    c.fail('data.source', 'needs GLUE TSVs', 'set --config.data.glue_dir or $GLUE_DIR')
  if c.choice('data.protocol', PROTOCOLS):
    protocol_field = {'lmbff': 'data.k', 'first_n': 'data.n'}.get(c.get('data.protocol'))
    if protocol_field:
      c.int_at_least(protocol_field, 1)
  length_ok = c.int_at_least('data.max_length', 2)
  buckets = c.get('data.buckets')
  if (not isinstance(buckets, (tuple, list)) or not buckets or not all(_is_int(b) and b >= 1 for b in buckets)
      or list(buckets) != sorted(set(buckets))):
    c.fail('data.buckets', 'must be a non-empty, strictly increasing tuple of positive lengths',
           'e.g. --config.data.buckets="(32, 64, 128)"; lengths above max_length are capped to it')

  # Model.
  c.choice('model.dtype', DTYPES)
  if c.get('model.pooling') is not None:  # Absent in configs written before the pooling option.
    c.choice('model.pooling', model_lib.POOLINGS)
  encoder, error = None, None
  if isinstance(c.get('model.checkpoint'), str) and c.get('model.checkpoint'):
    encoder, error = _encoder_config(c.get('model.checkpoint'))
  else:
    error = 'must be a checkpoint directory, a hub id or "minilm"; set --config.model.checkpoint.'
  if error:
    c.fail('model.checkpoint', error, None)
  if encoder and length_ok:
    positions = encoder.max_position_embeddings - (
        encoder.pad_token_id + 1 if encoder.model_type == 'roberta' else 0)
    if c.get('data.max_length') > positions:
      c.fail('data.max_length', f'exceeds the {positions} positions of checkpoint '
             f'{c.get("model.checkpoint")!r}', f'set --config.data.max_length to {positions} or less')

  # Method.
  method = c.get('method.name')
  if c.choice('method.name', peft.METHODS):
    if method == 'spartan':
      _check_memory(c, encoder)
    if method in ('houlsby', 'pfeiffer'):
      c.int_at_least('method.adapter.bottleneck', 1)
      c.choice('method.adapter.activation', ACTIVATIONS)
    if method == 'lora' and c.int_at_least('method.lora.rank', 1):
      if encoder and c.get('method.lora.rank') > encoder.hidden_size:
        c.fail('method.lora.rank', f'exceeds the hidden size {encoder.hidden_size}',
               f'set --config.method.lora.rank to {encoder.hidden_size} or less')
      c.number('method.lora.alpha', 0, low_open=True)
      targets = c.get('method.lora.targets')
      if not targets or not set(targets) <= set(LORA_TARGETS):
        c.fail('method.lora.targets', 'must be a non-empty subset of ' + ', '.join(LORA_TARGETS),
               'e.g. --config.method.lora.targets="(\'query\', \'value\')"')
  c.number('method.aux_loss_weight', 0)

  # Training.
  c.number('train.learning_rate', 0, low_open=True)
  devices = jax.device_count()  # Of every process: batches are global, sharded over all of them.
  for field in ('train.batch_size', 'train.eval_batch_size'):
    if c.int_at_least(field, 1) and c.get(field) % devices:
      c.fail(field, f'must be divisible by the {devices} devices of all processes',
             f'set --config.{field} to a multiple of {devices}')
  c.int_at_least('train.num_steps', 0)
  if c.get('train.num_steps') == 0:
    c.int_at_least('train.num_epochs', 1)
  c.number('train.warmup_ratio', 0, 1)
  c.number('train.weight_decay', 0)
  c.number('train.grad_clip_norm', 0)
  for field in ('train.eval_every', 'train.log_every', 'train.keep_checkpoints'):
    c.int_at_least(field, 1)
  if c.errors:
    raise ConfigError(f'{len(c.errors)} bad config field(s):\n  ' + '\n  '.join(c.errors))


def _check_memory(c: _Checker, encoder) -> None:
  ok = c.int_at_least('method.memory.num_parents', 1) & c.int_at_least('method.memory.memory_size', 1)
  if ok:
    try:
      memory_lib.children_per_parent(c.get('method.memory.memory_size'), c.get('method.memory.num_parents'))
    except ValueError:
      c.fail('method.memory.memory_size', 'is not divisible by method.memory.num_parents='
             f"{c.get('method.memory.num_parents')}", 'use a multiple of num_parents')
    if c.int_at_least('method.memory.top_k', 1) and c.get('method.memory.top_k') > c.get(
        'method.memory.num_parents'):
      c.fail('method.memory.top_k', f"exceeds num_parents={c.get('method.memory.num_parents')}",
             'lower top_k or add parents')
  c.number('method.memory.temperature', 0, low_open=True)
  c.choice('method.memory.impl', memory_lib.IMPLS)
  layers = c.get('method.memory.layers')
  if layers != 'all':
    try:
      indices = [int(i) for i in str(layers).split(',') if i]
    except ValueError:
      indices = None
    if not indices or (encoder and not all(0 <= i < encoder.num_hidden_layers for i in indices)):
      bound = f' in [0, {encoder.num_hidden_layers})' if encoder else ''
      c.fail('method.memory.layers', f'must be "all" or comma-separated layer indices{bound}',
             'e.g. --config.method.memory.layers=0,5')
